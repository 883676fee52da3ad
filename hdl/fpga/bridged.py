"""A unit behind the host bridge: UART pins outside, block-RAM buffers and the unit inside."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..numerics.catalog import numeric_array
from .host_bridge import HostBridge
from .stream_harness import StreamHarness

__all__ = ["BridgedUnit", "bridged_numeric_array"]


class BridgedUnit(wiring.Component):
    """``unit`` (a valid/ready component) in a :class:`StreamHarness` driven by a
    :class:`HostBridge`; the only ports are the UART's ``rx`` and ``tx``."""

    def __init__(self, unit, divisor: int, depth: int = 512):
        self._bridge = HostBridge(divisor)
        self._harness = StreamHarness(unit, depth)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    @property
    def harness(self) -> StreamHarness:
        return self._harness

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self._bridge
        m.submodules.harness = harness = self._harness
        wiring.connect(m, bridge.bus, harness.bus)
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx),
                     harness.start.eq(bridge.start), bridge.busy.eq(harness.busy)]
        return m


def bridged_numeric_array(unit: str = "fp32_mul", lanes: int = 4, divisor: int = 4,
                          depth: int = 512) -> BridgedUnit:
    """A lane array of the named arithmetic unit behind the host bridge."""
    return BridgedUnit(numeric_array(unit, lanes), divisor, depth)


def bridged_design(factory: str, params: dict, divisor: int = 4,
                   depth: int = 512) -> BridgedUnit:
    """Any valid/ready design (``factory`` "module:callable" with ``params``) behind the bridge."""
    import importlib

    module_name, _, attr = factory.partition(":")
    unit = getattr(importlib.import_module(module_name), attr)(**params)
    return BridgedUnit(unit, divisor, depth)
