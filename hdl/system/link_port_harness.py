"""Test harness: one socket's link port (:class:`~.link_node.LinkNode` with one port, its
:class:`~.flit_serializer.FlitSerializer` and :class:`~.flit_deserializer.FlitDeserializer`)
with every stream on a top-level port, as socket 0 linked to socket 1.

Ports: ``cfg`` -> node -> ``cfg_out`` (Program Load words); ``agcu_out`` (what the
AGCU sends) and ``tile_out`` (what the mesh ejects at the AGCU node) in;
``tile_in`` (into the tile) and ``agcu_in`` (to the AGCU) out; ``link_tx`` (link
send words) out, ``link_rx`` (link receive words) in; ``link_error``.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.link.frame import recv_layout, send_layout
from hdl.network.flit import flit_layout
from hdl.rdu.config import RDUParams

from .flit_deserializer import FlitDeserializer
from .flit_serializer import FlitSerializer
from .link_node import LinkNode

__all__ = ["LinkPortHarness", "make_link_port_harness", "SOCKET", "PEER"]

SOCKET, PEER = 0, 1


class LinkPortHarness(wiring.Component):
    """A one-port link node with its serializer and deserializer (see module docstring)."""

    def __init__(self, config: RDUParams, word_width: int):
        self._config = config
        self._width = word_width
        flit = flit_layout(config.vector_bits)
        super().__init__({
            "cfg": In(stream.Signature(32)), "cfg_out": Out(stream.Signature(32)),
            "agcu_out": In(stream.Signature(flit)), "tile_in": Out(stream.Signature(flit)),
            "tile_out": In(stream.Signature(flit)), "agcu_in": Out(stream.Signature(flit)),
            "link_tx": Out(stream.Signature(send_layout(word_width))),
            "link_rx": In(stream.Signature(recv_layout(word_width))),
            "link_error": Out(1), "kernel_running": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        flit = flit_layout(self._config.vector_bits)
        m.submodules.node = node = LinkNode(self._config, 1)
        m.submodules.serializer = ser = FlitSerializer(flit, self._width, PEER)
        m.submodules.deserializer = des = FlitDeserializer(flit, self._width, PEER, SOCKET)
        wiring.connect(m, wiring.flipped(self.cfg), node.cfg_in)
        wiring.connect(m, node.cfg_out, wiring.flipped(self.cfg_out))
        wiring.connect(m, wiring.flipped(self.agcu_out), node.from_agcu)
        wiring.connect(m, node.to_tile, wiring.flipped(self.tile_in))
        wiring.connect(m, wiring.flipped(self.tile_out), node.from_tile)
        wiring.connect(m, node.to_agcu, wiring.flipped(self.agcu_in))
        wiring.connect(m, node.to_link[0], ser.i)
        wiring.connect(m, ser.o, wiring.flipped(self.link_tx))
        wiring.connect(m, wiring.flipped(self.link_rx), des.i)
        wiring.connect(m, des.o, node.from_link[0])
        m.d.comb += [self.link_error.eq(des.error), node.kernel_running.eq(self.kernel_running)]
        return m


def make_link_port_harness(lanes: int = 4, flows: int = 16,
                           word_width: int = 32) -> LinkPortHarness:
    """Factory for the build cache."""
    return LinkPortHarness(RDUParams(lanes=lanes, flows=flows), word_width)
