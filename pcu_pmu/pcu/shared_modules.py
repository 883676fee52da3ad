"""Submodules whose Verilog is emitted once and instantiated many times.

Amaranth emits one Verilog module per submodule instance, so a 16 x 6 PCU would
carry ~400 copies of the same arithmetic units and Verilator would compile every
copy. Here each unit (and each SIMD stage) becomes an ``Instance`` of one named
module whose definition is converted once and appended to the design's Verilog;
Verilator then compiles each module's code once, whatever the instance count.
"""

from amaranth.hdl import ClockSignal, Instance, ResetSignal, Value
from amaranth.lib import wiring

from hdl.bus.reset_style import convert

__all__ = ["SharedModules"]


class SharedModules:
    """A registry of module definitions (name -> factory) for one design."""

    def __init__(self):
        self._factories = {}

    def instantiate(self, m, instance_name: str, module_name: str, component, factory) -> None:
        """Add an instance of ``module_name`` to ``m`` wired to ``component``'s ports.

        ``component`` (a synchronous wiring.Component) is never elaborated: its port
        signals become the wires of the instance. ``factory()`` builds the
        component that defines the module; it must have the same signature.
        """
        self._factories.setdefault(module_name, factory)  # the name fixes the contents
        ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in component.signature.flatten(component):
            direction = "i_" if member.flow == wiring.In else "o_"
            ports[direction + "__".join(map(str, path))] = Value.cast(value)
        component._MustUse__silence = True  # only its port signals are used
        m.submodules[instance_name] = Instance(module_name, **ports)

    def emit_verilog(self, top, name: str, reset: str = "sync") -> str:
        """Verilog of ``top`` (named ``name``) followed by every module it instantiates;
        ``reset``: the reset style of them all (:mod:`hdl.bus.reset_style`)."""
        texts = [convert(top, name, reset)]
        emitted = set()
        while True:
            pending = [n for n in self._factories if n not in emitted]
            if not pending:
                break
            for module_name in pending:
                definition = self._factories[module_name]()
                texts.append(convert(definition, module_name, reset))
                emitted.add(module_name)
        return "\n".join(texts)
