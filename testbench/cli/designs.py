"""Every design the command line can emit or lint, by name, with default parameters.

Later units register here too, so ``rdu verilog NAME`` and ``rdu lint`` cover them.
"""

from dataclasses import dataclass, fields

from hdl.numerics.catalog import NUMERIC_UNITS
from hdl.rdu.config import RDUParams
from hdl.system.config import SystemParams

from ..sim.build_cache import Design

__all__ = ["DesignEntry", "DESIGNS", "design_named"]


@dataclass(frozen=True)
class DesignEntry:
    """A factory ("module:callable"), its default parameters and a one-line description."""

    factory: str
    defaults: dict
    description: str


DESIGNS: dict[str, DesignEntry] = {
    **{unit: DesignEntry("hdl.numerics.catalog:numeric_array", {"unit": unit, "lanes": 1},
                         f"arithmetic unit {unit} (lanes copies behind one stream)")
       for unit in NUMERIC_UNITS},
    "pcu": DesignEntry("pcu_pmu.pcu.pcu:make_pcu",
                       {"lanes": 16, "stages": 6, "vec_fifo_depth": 4, "scalar_fifo_depth": 4,
                        "out_fifo_depth": 4, "systolic": False},
                       "Pattern Compute Unit: FIFOs, counters, lanes x stages SIMD body, tail"),
    "pmu": DesignEntry("pcu_pmu.pmu.pmu:make_pmu", {"banks": 16, "depth": 256, "width": 32},
                       "Pattern Memory Unit: banked SRAM, address generators, N-buffering"),
    "systolic": DesignEntry("pcu_pmu.pcu.systolic:make_systolic", {"rows": 8, "cols": 8},
                            "PCU systolic body: output-stationary bf16 x bf16 -> fp32 array"),
    "rdu": DesignEntry("hdl.rdu.top:make_rdu",
                       {"preset": "small", **{f.name: None for f in fields(RDUParams)}},
                       "RDU top: tile (PCUs, PMUs, meshes, AGCU), device memory, host port "
                       "(presets small, tile2x2, plasticine, fpga, coe; other parameters "
                       "override)"),
    "agcu": DesignEntry("hdl.agcu.agcu:make_agcu_top",
                        {"data_width": 128, "max_streams": 4, "outstanding": 4},
                        "AGCU: program/argument load, kernel streams, schedules (AXI4 master)"),
    "host_port": DesignEntry("hdl.host.host_port:make_host_port_top",
                             {"counters": 4, "addr_width": 12},
                             "host port: AXI4-Lite command, status and counter registers"),
    "mesh": DesignEntry("hdl.network.mesh:make_mesh",
                        {"rows": 2, "cols": 3, "data_width": 128, "flows": 16, "buffer_depth": 2},
                        "on-chip network: rows x cols mesh of credit-flow-controlled switches"),
    "reorder": DesignEntry("hdl.network.reorder:make_reorder", {"data_width": 128, "window": 8},
                           "sequence-ID reorder buffer for many-to-one streams"),
    "control_fabric": DesignEntry("hdl.network.control:make_control_fabric",
                                  {"sources": 4, "sinks": 4},
                                  "control fabric: circuit-switched 1-bit tokens"),
    "axi_sram": DesignEntry("hdl.memory.axi_sram:make_axi_sram_top",
                            {"size_bytes": 16384, "data_width": 128, "ports": 2},
                            "device memory: multi-port AXI4 SRAM"),
    "link_harness": DesignEntry("hdl.link.harness:make_link_harness",
                                {"width": 32, "buffer_depths": [64, 64], "max_payload": 16,
                                 "replay_depth": 256, "window": 32, "max_latency": 64,
                                 "sockets": 2, "socket_a": 0, "socket_b": 1},
                                "RDU-to-RDU link: two endpoints, lossy channel models, RTL "
                                "traffic generators, checkers and protocol checkers"),
    "system": DesignEntry("hdl.system.system:make_system", SystemParams().to_json(),
                          "N RDUs joined by links at their AGCU nodes (ring, full or listed "
                          "links; rdu = one RDUParams for every socket)"),
}


def design_named(name: str, overrides: dict | None = None, toplevel: str | None = None) -> Design:
    """The Design for ``name`` with ``overrides`` applied to its default parameters."""
    try:
        entry = DESIGNS[name]
    except KeyError:
        raise ValueError(f"unknown design {name!r}; known: {', '.join(sorted(DESIGNS))}") from None
    params = dict(entry.defaults)
    unknown = set(overrides or {}) - set(params)
    if unknown:
        raise ValueError(f"design {name!r} has no parameter(s) {', '.join(sorted(unknown))}; "
                         f"its parameters: {', '.join(sorted(params))}")
    params.update(overrides or {})
    return Design(toplevel or name, entry.factory, params)
