"""System descriptions that cannot work are refused, with a clear message, before any
simulation: a link or route to a socket that does not exist, zero credits, a virtual
channel with no buffer, a topology that does not connect the sockets."""

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from hdl.system.config import SystemConfigError, SystemParams
from hdl.system.system import SystemTop
from testbench.runtime.program import ProgramBuilder
from testbench.system.link_program import linked_image


def _empty_image(system):
    return ProgramBuilder(system.socket_rdu(0)).build()


@pytest.mark.parametrize("changes, message", [
    ({"credits": 0}, "credits must be positive"),
    ({"credits": 128}, "exceed the receive buffer"),
    ({"buffer_depths": (64, 0)}, "VC 1 has no receive buffer"),
    ({"buffer_depths": (64,), "data_vc": 1}, "data_vc 1 is not a virtual channel"),
    ({"sockets": 4, "topology": ((0, 1), (2, 3))}, "does not connect the sockets"),
    ({"sockets": 3, "topology": ((0, 1), (1, 3))}, "socket 3, which does not exist"),
    ({"sockets": 2, "topology": ((0, 0),)}, "joins a socket to itself"),
    ({"topology": "mesh"}, "topology must be one of ring, full"),
    ({"sockets": 9}, "sockets must be an int from 1 to 8"),
    ({"latency": 100}, "latency 100 is outside"),
    ({"rdu": (rdu_params("small"), rdu_params("small", lanes=8))}, "vectors differ"),
    ({"sockets": 3, "rdu": (rdu_params("small"),) * 2}, "2 RDU configurations for 3 sockets"),
    ({"rdu": "small"}, "rdu must be an RDUParams"),
    ({"timeout": 20}, "timeout 20 must be at least"),
])
def test_bad_system_refused(changes, message):
    with pytest.raises(SystemConfigError, match=message):
        SystemParams(**changes)


@pytest.mark.parametrize("sockets, topology, socket, dest, message", [
    (2, "ring", 0, 2, "destination socket 2 does not exist"),
    (4, "ring", 0, 2, "no link joins them"),
    (2, "ring", 1, 1, "to itself"),
    (4, "ring", 7, 0, "socket 7 does not exist"),
])
def test_route_to_missing_or_unlinked_socket_refused(sockets, topology, socket, dest, message):
    system = SystemParams(sockets=sockets, topology=topology)
    with pytest.raises(SystemConfigError, match=message):
        linked_image(system, socket, _empty_image(system), routes={1: (dest, 1)})


def test_far_flow_must_exist_at_the_destination():
    system = SystemParams(rdu=(rdu_params("small"), rdu_params("small", flows=8)))
    with pytest.raises(ValueError, match="socket 1 has flows 0..7"):
        linked_image(system, 0, _empty_image(system), routes={1: (1, 12)})


def test_per_socket_rdu_configs():
    system = SystemParams(rdu=(rdu_params("small"), rdu_params("small", memory_bytes=1 << 15)))
    assert system.socket_rdu(1).memory_bytes == 1 << 15
    assert SystemParams.from_json(system.to_json()) == system


def test_topologies_and_ports():
    ring4 = SystemParams(sockets=4)
    assert ring4.links() == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert ring4.neighbours(0) == [1, 3] and ring4.port_to(0, 3) == 1
    full4 = SystemParams(sockets=4, topology="full")
    assert len(full4.links()) == 6 and full4.neighbours(2) == [0, 1, 3]
    assert SystemParams(sockets=2).links() == [(0, 1)]
    assert SystemParams(sockets=1).links() == []
    assert SystemParams.from_json(ring4.to_json()) == ring4


def test_link_record_in_image():
    system = SystemParams(sockets=2)
    image = linked_image(system, 0, _empty_image(system), routes={3: (1, 5)}, pair=(2, 4))
    flows = system.socket_rdu(0).flows
    header, record = image.words[0], np.array(image.words[1:flows + 2])
    assert header >> 24 == 0xA5 and (header >> 10) & 0x3FFF == flows + 1
    assert record[3] == 1 << 31 | 0 << 8 | 5
    assert record[flows] == 1 << 31 | 4 << 8 | 2
    assert not record[[f for f in range(flows) if f != 3]].any()
    # no route: one word, the pairing and take word (the node clears every route)
    short = linked_image(system, 0, _empty_image(system), pair=(2, 4), take=7).words
    assert (short[0] >> 10) & 0x3FFF == 1 and short[1] == 1 << 31 | 7 << 16 | 4 << 8 | 2


def test_system_top_ports():
    top = SystemTop(SystemParams(sockets=2))
    names = set(top.signature.members)
    assert {"s0_s_axil_awaddr", "s1_s_axi_rdata", "s1_link_error", "l0_ab_tx_replays",
            "l0_ba_rx_crc_errors", "link_seed"} <= names


def test_eight_tiered_sockets_fit_in_the_top_level_input_limit():
    """Amaranth refuses a top with more than 65,536 input bits; each tiered socket's
    backdoors take two 8192-bit data words, so the sockets share one of each (a preload
    writes one socket at a time through its own enable)."""
    from amaranth.hdl import Shape
    from amaranth.lib.wiring import In

    from hdl.system.system import SHARED_INPUTS

    top = SystemTop(SystemParams(sockets=8, rdu=rdu_params("coe")))
    members = top.signature.members
    inputs = sum(Shape.cast(m.shape).width for m in members.values() if m.flow == In)
    assert inputs < 1 << 16, inputs
    for name in SHARED_INPUTS:
        assert name in members and not any(f"s{k}_{name}" in members for k in range(8))
    assert all(f"s{k}_ddr_pl_en" in members and f"s{k}_hbm_pl_en" in members
               for k in range(8))
