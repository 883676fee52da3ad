"""A :class:`~.script.SystemScript` whose sockets have memory tiers (HBM, DDR, copy engine).

Each socket is an RDU with ``memory="tiers"`` (e.g. the ``coe`` preset): besides the
tensor region of HBM it has a DDR allocator (:attr:`TieredSystemScript.ddr`) and a
``copy`` step that runs its copy engine. Copies of several sockets in one phase run at
the same time, each on its own engine; the phase window (a named :meth:`barrier`) is
the time until the slowest one is done. Played by
:mod:`testbench.cocotb_tests.host_player`, like every host program.

Outputs: those of :class:`~.script.SystemScript`, plus for every copy ``<name>`` =
(the copy engine's cycles,) and ``window(name)`` = (first, last) cycle of its socket.
"""

import numpy as np

from hdl.system.config import SystemParams
from testbench.runtime import host_program as hp
from testbench.runtime.memory_map import DeviceMemory, check_copy, check_preload, ddr_region

from .script import SystemScript

__all__ = ["TieredSystemScript"]


class TieredSystemScript(SystemScript):
    """Per-socket host steps with DDR writes and copy-engine copies; :meth:`run` simulates."""

    def __init__(self, config: SystemParams, profile: str = "quick"):
        untiered = [k for k in range(config.sockets) if config.socket_rdu(k).memory != "tiers"]
        if untiered:
            raise ValueError(f"sockets {untiered} have no memory tiers (memory='tiers', e.g. "
                             f"the 'coe' preset, is needed for DDR and the copy engine)")
        super().__init__(config, profile)
        self.ddr = []
        for k in range(config.sockets):
            rdu = config.socket_rdu(k)
            base, size = ddr_region(rdu)
            self.ddr.append(DeviceMemory(size, rdu.vector_bits // 8, base))

    def allocate_aligned(self, socket: int, nbytes: int, what: str, *, tier: str = "hbm",
                         align: int = 1) -> int:
        """Reserve ``nbytes`` of socket ``socket``'s ``tier`` ("hbm" or "ddr") at a multiple
        of ``align``; return the address."""
        self._steps(socket)
        if tier not in ("hbm", "ddr"):
            raise ValueError(f"tier must be 'hbm' or 'ddr', not {tier!r}")
        memory = self.tensors[socket] if tier == "hbm" else self.ddr[socket]
        return memory.allocate(nbytes, what, align)

    def write_at(self, socket: int, address: int, array) -> None:
        """Write ``array`` at ``address`` (allocated by the caller) of socket ``socket``."""
        self._steps(socket).append(hp.Write(address,
                                            self._array("w", np.ascontiguousarray(array))))

    def preload_at(self, socket: int, address: int, array) -> None:
        """Place ``array`` (its little-endian bytes) at ``address`` of socket ``socket``
        through its tiers' backdoor before the host starts (no AXI traffic, no host
        cycles; one simulated cycle per device word). Only in the first phase, whose
        preloads all happen before its other steps, so the range must not overlap what
        an earlier step of that phase writes (the caller's care). ValueError unless the
        range is inside one tier and no barrier came before."""
        steps = self._steps(socket)
        if len(self.phases) > 1:
            raise ValueError(f"socket {socket}: a preload must come before the first barrier "
                             f"(it happens before the host starts)")
        array = np.ascontiguousarray(array)
        check_preload(self.config.socket_rdu(socket), address, array.nbytes)
        steps.append(hp.Preload(address, self._array("p", array)))

    def copy(self, socket: int, src: int, dst: int, nbytes: int, name: str) -> None:
        """Copy ``nbytes`` between the tiers of socket ``socket`` with its copy engine;
        output ``name`` is the engine's cycles. ValueError if the engine would refuse it."""
        check_copy(self.config.socket_rdu(socket), src, dst, nbytes)
        self._steps(socket).append(hp.Copy(src, dst, nbytes, name))

    def run(self, *, run_name: str, seed: int = 1, waves: bool = False,
            timeout_cycles: int = 200_000, host_stall: float = 0.0, link_seed: int = 1,
            log=print) -> hp.HostProgramResult:
        """Simulate every phase (links without injected errors)."""
        return self._simulate(run_name=run_name, seed=seed, waves=waves, log=log,
                              timeout_cycles=timeout_cycles, host_stall=host_stall,
                              flip_threshold=0, drop_threshold=0, link_seed=link_seed)
