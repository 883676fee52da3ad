"""One socket of a :class:`~.script.SystemScript` seen as a single-RDU runtime script.

The kernel compiler's host side (:func:`testbench.compiler.execute.stage_buffers`,
:func:`~testbench.compiler.execute.enqueue_run`) drives a
:class:`testbench.runtime.host_script.HostScript`; :class:`SocketScript` offers the same
``write`` / ``allocate`` / ``load`` / ``launch`` / ``schedule`` / ``read`` calls and queues them on
socket ``socket`` of a system script, in its current phase. Every image it loads
gets an all-zero link record first (:func:`~.link_program.linked_image`), so no link
route or pairing of an earlier program outlives it. ``placed`` pins allocations by
name (``{what: (address, bytes)}``): an ``allocate`` under that name returns the
address the caller reserved instead of new memory (how a collective puts a
kernel's output buffer where it expects it).
"""

from testbench.runtime.image import ProgramImage

from .link_program import linked_image
from .script import SystemScript

__all__ = ["SocketScript"]


class SocketScript:
    """Socket ``socket`` of ``script`` behind the single-RDU script calls."""

    def __init__(self, script: SystemScript, socket: int, placed: dict | None = None):
        if not isinstance(socket, int) or not 0 <= socket < script.config.sockets:
            raise ValueError(f"socket {socket!r} does not exist (sockets "
                             f"0..{script.config.sockets - 1})")
        self.system, self.socket = script, socket
        self.config = script.config.socket_rdu(socket)
        self.placed = dict(placed or {})

    def write(self, array, what: str = "tensor") -> int:
        return self.system.write(self.socket, array, what)

    def allocate(self, nbytes: int, what: str = "tensor") -> int:
        if what in self.placed:
            address, size = self.placed[what]
            if nbytes > size:
                raise ValueError(f"socket {self.socket}: {what} needs {nbytes} bytes but "
                                 f"{size} are reserved for it at {address:#x}")
            return address
        return self.system.allocate(self.socket, nbytes, what)

    def load(self, image: ProgramImage, name: str | None = None) -> None:
        if name is not None:
            raise ValueError("a system script does not time program loads by name")
        self.system.load(self.socket, linked_image(self.system.config, self.socket, image))

    def schedule(self, kernels, name: str) -> None:
        """``[(image, arguments), ...]`` as one hardware-orchestrated schedule."""
        self.system.schedule(self.socket, [
            (linked_image(self.system.config, self.socket, image), arguments)
            for image, arguments in kernels], name)

    def launch(self, arguments, name: str) -> None:
        self.system.launch(self.socket, arguments, name)

    def read(self, name: str, address: int, count: int) -> None:
        self.system.read(self.socket, name, address, count)

    def counters(self, name: str) -> None:
        self.system.counters(self.socket, name)
