"""An RDU top behind the UART host bridge: the whole prototype core, two pins wide."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import AXI4Signature, connect_flat
from hdl.memory.axi_register_slice import AXI4RegisterSlice
from hdl.rdu.config import RDUParams, rdu_params
from hdl.rdu.top import HOST_LITE_ADDR_WIDTH, RDUTop
from hdl.tile.tile import ADDR_WIDTH, MEM_ID_WIDTH

from .axi_bus_master import AXIBusMaster
from .host_bridge import HostBridge

__all__ = ["BridgedRDU", "make_bridged_rdu"]


class BridgedRDU(wiring.Component):
    """:class:`HostBridge` -> :class:`AXIBusMaster` -> :class:`RDUTop`'s host port (device
    memory through an :class:`AXI4RegisterSlice`).

    Ports: ``rx``/``tx`` (UART, ``divisor`` clocks per bit), ``busy`` and ``error``
    (the RDU's, e.g. for LEDs). The bridge's START command does nothing here (the
    host launches kernels through the registers); STATUS bit 0 is the RDU's busy.
    """

    def __init__(self, config: RDUParams, divisor: int):
        self._config = config
        self._bridge = HostBridge(divisor)
        self._rdu = RDUTop(config)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1),
                          "error": Out(1)})

    @property
    def config(self) -> RDUParams:
        return self._config

    def emit_verilog(self, name: str, reset: str = "sync") -> str:
        """Verilog with each shared PCU submodule defined once (as :meth:`RDUTop.emit_verilog`)."""
        return self._rdu._shared.emit_verilog(self, name, reset)

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self._bridge
        m.submodules.rdu = rdu = self._rdu
        m.submodules.master = master = AXIBusMaster(
            data_width=self._config.vector_bits, lite_addr_width=HOST_LITE_ADDR_WIDTH,
            addr_width=ADDR_WIDTH, id_width=MEM_ID_WIDTH)
        # The slice cuts the bridge master's paths into the device memory's arbiter.
        m.submodules.memory_slice = memory_slice = AXI4RegisterSlice(AXI4Signature(
            addr_width=ADDR_WIDTH, data_width=self._config.vector_bits, id_width=MEM_ID_WIDTH))
        wiring.connect(m, bridge.bus, master.bus)
        connect_flat(m, rdu, "s_axil", master.axil, slave=False)
        wiring.connect(m, master.axi, memory_slice.s)
        connect_flat(m, rdu, "s_axi", memory_slice.m, slave=False)
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx), bridge.busy.eq(rdu.busy),
                     self.busy.eq(rdu.busy), self.error.eq(rdu.error | rdu.config_error)]
        return m


def make_bridged_rdu(preset: str = "fpga", divisor: int = 4, **overrides) -> BridgedRDU:
    """``Design`` factory: an RDU preset (``None`` overrides keep the preset's value)
    behind the bridge."""
    config = rdu_params(preset, **{k: v for k, v in overrides.items() if v is not None})
    return BridgedRDU(config, divisor)
