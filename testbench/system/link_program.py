"""A tile program plus its link record: which flows leave for which socket, pairing, and
how many link flits it takes.

``routes`` maps a flow id to ``(destination socket, flow id there)``; every
destination is checked against the system (it must exist and be linked to this
socket) before anything is simulated. The link record goes first in the image,
so a program's link routes are in place before its units start.
"""

from hdl.system.config import SystemParams
from hdl.system.link_node import link_record_words
from testbench.runtime.image import ProgramImage

__all__ = ["linked_image"]


def linked_image(system: SystemParams, socket: int, image: ProgramImage, routes=None,
                 pair=None, take=0) -> ProgramImage:
    """``image`` (built for socket ``socket``'s RDU) with its link record.

    ``pair``: ``(local flow, link flow)`` entering the tile alternately (see
    :class:`hdl.system.link_node.LinkNode`), or None. ``take``: the link flits the
    program takes into the tile (None: every one); the rest wait in the links.
    """
    port_routes = {}
    for flow, (dest, far_flow) in (routes or {}).items():
        port = system.port_to(socket, dest)
        flows = system.socket_rdu(dest).flows
        if not isinstance(far_flow, int) or not 0 <= far_flow < flows:
            raise ValueError(f"flow {flow} of socket {socket} arrives at socket {dest} as flow "
                             f"{far_flow!r}; socket {dest} has flows 0..{flows - 1}")
        port_routes[flow] = (port, far_flow)
    config = system.socket_rdu(socket)
    words = link_record_words(config, port_routes, pair, take) + list(image.words)
    return ProgramImage.for_config(config, words)
