"""The host program for an RDU on the FPGA board: synchronous, over the UART bridge.

:class:`BoardHost` speaks the same host protocol as the cocotb
:class:`~testbench.runtime.runtime.Runtime` (program images and argument blocks
in the top quarter of device memory, Program Load / Argument Load / Kernel
Execute through the command registers, completion by polling COMMANDS_DONE and
STATUS), but blocks instead of awaiting, so it runs as plain Python against a
board's serial port (:func:`testbench.fpga.rdu_client.open_rdu`) and, unchanged,
in a cocotb ``bridge`` thread against the simulated bridge. :func:`play_steps`
replays a :class:`~testbench.runtime.host_script.HostScript`'s write / load / launch /
read steps.
"""

import numpy as np

from hdl.agcu.commands import Command
from hdl.rdu.config import RDUParams
from testbench.runtime import host_program as hp
from testbench.runtime import host_registers as reg
from testbench.runtime.image import ImageError, ProgramImage
from testbench.runtime.memory_map import DeviceMemory, command_region
from testbench.runtime.runtime import DeviceError, RuntimeTimeout

from .rdu_client import RDUBridgeClient

__all__ = ["BoardHost", "play_steps"]


class BoardHost:
    """Load programs, launch kernels, move tensors on an RDU behind the bridge.

    ``max_polls``: status polls before a command counts as hung; ``poll`` is called
    between polls (e.g. ``time.sleep`` on a board; nothing in simulation, where
    each poll already takes a UART round trip of simulated time).
    """

    def __init__(self, rdu: RDUBridgeClient, config: RDUParams, *, max_polls: int = 2000,
                 poll=None):
        self.rdu, self.config = rdu, config
        self.max_polls, self.poll = max_polls, poll
        base, size = command_region(config.memory_bytes)
        self.commands = DeviceMemory(size, config.vector_bits // 8, base)
        self._program_region = {}

    # -- device memory ---------------------------------------------------------------------
    def write(self, address: int, array) -> None:
        self.rdu.write_memory(address, np.ascontiguousarray(array).tobytes())

    def read(self, address: int, count: int, dtype=np.uint32) -> np.ndarray:
        dtype = np.dtype(dtype)
        return np.frombuffer(self.rdu.read_memory(address, count * dtype.itemsize),
                             dtype=dtype).copy()

    def write_words(self, words) -> int:
        blob = np.asarray(list(words), dtype="<u4")
        address = self.commands.allocate(blob.nbytes, "command words")
        self.write(address, blob)
        return address

    # -- commands ----------------------------------------------------------------------------
    def load_program(self, image) -> None:
        """Check ``image`` (a ProgramImage or its bytes) and run Program Load."""
        if isinstance(image, (bytes, bytearray)):
            image = ProgramImage.from_bytes(bytes(image))
        if not isinstance(image, ProgramImage):
            raise ImageError(f"expected a ProgramImage or its bytes, not {type(image).__name__}")
        image.check_for(self.config)
        if image not in self._program_region:
            self._program_region[image] = self.write_words(image.words)
        self._run([(Command.PROGRAM_LOAD, self._program_region[image], len(image.words))],
                  "program load")

    def launch(self, arguments) -> int:
        """Argument Load + Kernel Execute; returns the AGCU's cycle count of the kernel."""
        words = [int(w) for w in arguments]
        address = self.write_words(words)
        self._run([(Command.ARGUMENT_LOAD, address, len(words)),
                   (Command.KERNEL_EXECUTE, 0, 0)], "kernel")
        return self.rdu.read_register(reg.KERNEL_CYCLES)

    def _run(self, commands, what: str) -> None:
        expected = self.rdu.read_register(reg.COMMANDS_DONE) + len(commands)
        for op, address, length in commands:
            self.rdu.write_register(reg.CMD_OP, int(op))
            self.rdu.write_register(reg.CMD_ADDR, address)
            self.rdu.write_register(reg.CMD_LENGTH, length)
            self.rdu.write_register(reg.DOORBELL, 1)
        for _ in range(self.max_polls):
            done = self.rdu.read_register(reg.COMMANDS_DONE)
            status = self.rdu.read_register(reg.STATUS)
            if status & reg.STATUS_ERROR:
                raise DeviceError(f"{what}: the RDU raised its error flag "
                                  f"(status {status:#x}, {done} commands done)")
            if done >= expected and not status & reg.STATUS_BUSY:
                return
            if self.poll is not None:
                self.poll()
        raise RuntimeTimeout(f"{what}: not finished after {self.max_polls} status polls "
                             f"({done} of {expected} commands done, status {status:#x})")


def play_steps(host: BoardHost, steps: list, arrays: dict) -> dict:
    """Run a HostScript's write, load, launch and read steps; return what was read.

    Outputs: each ``read`` step's words and each launch's kernel cycles
    (``<name>_kernel_cycles``) under their names.
    """
    outputs = {}
    for index, data in enumerate(steps):
        step = data if not isinstance(data, dict) else hp.step_from_json(data)
        if isinstance(step, hp.Write):
            host.write(step.address, arrays[step.array])
        elif isinstance(step, hp.Load):
            host.load_program(arrays[step.image].tobytes())
        elif isinstance(step, hp.Launch):
            cycles = host.launch(arrays[step.arguments])
            outputs[f"{step.name}_kernel_cycles"] = np.array([cycles])
        elif isinstance(step, hp.Read):
            outputs[step.name] = host.read(step.address, step.count)
        else:
            raise ValueError(f"step {index}: the board host does not play "
                             f"{type(step).__name__} steps")
    return outputs
