"""One socket of a :class:`~.session.SystemSession` seen as a single-RDU runtime session.

The kernel compiler's host side (:func:`testbench.compiler.execute.stage_buffers`,
:func:`~testbench.compiler.execute.enqueue_run`) drives a
:class:`testbench.runtime.session.Session`; :class:`SocketSession` offers the same
``write`` / ``allocate`` / ``load`` / ``launch`` / ``read`` calls and queues them on
socket ``socket`` of a system session, in its current phase. Every image it loads
gets an all-zero link record first (:func:`~.link_program.linked_image`), so no link
route or pairing of an earlier program outlives it. ``placed`` pins allocations by
name (``{what: (address, bytes)}``): an ``allocate`` under that name returns the
address the caller reserved instead of new memory (how a collective puts a
kernel's output buffer where it expects it).
"""

from testbench.runtime.image import ProgramImage

from .link_program import linked_image
from .session import SystemSession

__all__ = ["SocketSession"]


class SocketSession:
    """Socket ``socket`` of ``session`` behind the single-RDU session calls."""

    def __init__(self, session: SystemSession, socket: int, placed: dict | None = None):
        if not isinstance(socket, int) or not 0 <= socket < session.config.sockets:
            raise ValueError(f"socket {socket!r} does not exist (sockets "
                             f"0..{session.config.sockets - 1})")
        self.system, self.socket = session, socket
        self.config = session.config.socket_rdu(socket)
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
            raise ValueError("a system session does not time program loads by name")
        self.system.load(self.socket, linked_image(self.system.config, self.socket, image))

    def launch(self, arguments, name: str) -> None:
        self.system.launch(self.socket, arguments, name)

    def read(self, name: str, address: int, count: int) -> None:
        self.system.read(self.socket, name, address, count)

    def counters(self, name: str) -> None:
        self.system.counters(self.socket, name)
