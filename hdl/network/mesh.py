"""A rows x cols 2-D mesh of five-port switches with credit flow control on every hop.

Members (``L = flit_layout(data_width, log2(flows), seq_bits)``, also ``Mesh.layout``):

* ``inject_{r}_{c}: In(stream.Signature(L))`` - flits into node (r, c). An
  injection adapter with a credit counter feeds the switch's local input buffer.
* ``eject_{r}_{c}: Out(stream.Signature(L))`` - flits out of node (r, c), from an
  ejection buffer of ``buffer_depth`` flits that returns a credit per pop.
* ``cfg: In(stream.Signature(32))`` - route table words (always ready, one per
  cycle); format in :mod:`hdl.network.routes`, words from ``route_words``.
  Rewrite routes only while no flit is in flight.
* ``credit_error: Out(1)`` - sticky: some link had more than ``buffer_depth``
  flits outstanding, returned a credit with none outstanding, or some buffer
  was written while full (passive checkers on every link, see
  :class:`~hdl.network.credit_link.CreditChecker`).
* ``flits_delivered: Out(32)`` - flits ejected so far, all nodes together.

With ``link_registers`` (the default) every switch-to-switch link has a
:class:`~hdl.network.link_register.LinkRegister` (valid, flit and credit
registered): no combinational path crosses from one switch into the next, at
one more cycle per hop (zero-load latency ``2 * hops + 2`` cycles from inject to
eject handshake instead of ``hops + 2``) and a credit round trip of 4 cycles
instead of 2 (a link carries at most ``buffer_depth / 4`` flits per cycle when
``buffer_depth < 4``). Injection and ejection links stay unregistered. The
checkers watch each link at its sender (the flits its credit counter allows).

Row 0 is the north edge, column 0 the west edge. Flits go unchanged from
injection to ejection along the routes of their ``flow`` (unicast or multicast);
each output arbitrates round-robin among the five inputs.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .credit_link import CreditChecker, CreditReceiver, CreditSender
from .flit import flit_layout
from .link_register import LinkRegister
from .routes import MAX_FLOWS, MAX_NODES, OPPOSITE, PORT_E, PORT_LOCAL, PORT_S, PORTS, neighbour
from .switch import Switch

__all__ = ["Mesh", "make_mesh"]


class Mesh(wiring.Component):
    """The vector/scalar fabric: a ``rows`` x ``cols`` mesh of :class:`Switch` es.

    ``flows`` (a power of two, at most 256) is the size of every route table and
    sets the flit's flow field to log2(flows) bits; ``buffer_depth`` is the depth
    of every input and ejection buffer (and so every link's credit count).
    ``link_registers`` puts a register stage on every switch-to-switch link.
    """

    def __init__(self, rows: int, cols: int, data_width: int, *, flows: int = 64,
                 buffer_depth: int = 2, seq_bits: int = 8, link_registers: bool = True):
        if not (isinstance(rows, int) and isinstance(cols, int) and rows >= 1 and cols >= 1):
            raise ValueError(f"mesh must be at least 1 x 1, not {rows!r} x {cols!r}")
        if rows * cols > MAX_NODES:
            raise ValueError(f"a {rows} x {cols} mesh has more than {MAX_NODES} nodes")
        if not (isinstance(flows, int) and 2 <= flows <= MAX_FLOWS and flows & (flows - 1) == 0):
            raise ValueError(f"flows must be a power of two in 2..{MAX_FLOWS}, not {flows!r}")
        if not isinstance(buffer_depth, int) or buffer_depth < 1:
            raise ValueError(f"buffer_depth must be a positive integer, not {buffer_depth!r}")
        self._rows, self._cols = rows, cols
        self._flows = flows
        self._buffer_depth = buffer_depth
        self._link_registers = bool(link_registers)
        self._layout = flit_layout(data_width, (flows - 1).bit_length(), seq_bits)
        members = {}
        for r in range(rows):
            for c in range(cols):
                members[f"inject_{r}_{c}"] = In(stream.Signature(self._layout))
                members[f"eject_{r}_{c}"] = Out(stream.Signature(self._layout))
        members.update({
            "cfg": In(stream.Signature(32)),
            "credit_error": Out(1),
            "flits_delivered": Out(32),
        })
        super().__init__(members)

    @property
    def layout(self):
        return self._layout

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def cols(self) -> int:
        return self._cols

    @property
    def flows(self) -> int:
        return self._flows

    @property
    def buffer_depth(self) -> int:
        return self._buffer_depth

    @property
    def link_registers(self) -> bool:
        return self._link_registers

    def _on_mesh(self, node) -> bool:
        return 0 <= node[0] < self._rows and 0 <= node[1] < self._cols

    def elaborate(self, platform):
        m = Module()
        rows, cols, depth, layout = self._rows, self._cols, self._buffer_depth, self._layout
        errors = []

        def check(name, sender_valid, receiver_credit):
            checker = CreditChecker(depth)
            m.submodules[f"check_{name}"] = checker
            m.d.comb += [checker.valid.eq(sender_valid), checker.credit.eq(receiver_credit)]
            errors.append(checker.error)

        # -- route table writes: decoded once, fanned out to every switch ------------------
        word = self.cfg.payload
        clear = Signal()
        write = Signal()
        node_index = Signal(15)
        m.d.comb += [
            self.cfg.ready.eq(1),
            clear.eq(self.cfg.valid & word[31]),
            write.eq(self.cfg.valid & ~word[31]),
            node_index.eq(word[16:31]),
        ]

        switches = {}
        for r in range(rows):
            for c in range(cols):
                credits = [depth if (p == PORT_LOCAL or self._on_mesh(neighbour((r, c), p)))
                           else 0 for p in range(PORTS)]
                switch = Switch(layout, self._flows, depth, credits)
                m.submodules[f"switch_{r}_{c}"] = switch
                switches[r, c] = switch
                m.d.comb += [
                    switch.table_clear.eq(clear),
                    switch.table_write.eq(write & (node_index == r * cols + c)),
                    switch.table_flow.eq(word[8:16]),
                    switch.table_mask.eq(word[0:PORTS]),
                ]
                errors.append(switch.overflow)

        # -- switch-to-switch links (each pair once: east and south of every node) ---------
        for (r, c), switch in switches.items():
            for p in (PORT_E, PORT_S):
                other = neighbour((r, c), p)
                if not self._on_mesh(other):
                    continue
                far = switches[other]
                for a, pa, b, pb in ((switch, p, far, OPPOSITE[p]), (far, OPPOSITE[p], switch, p)):
                    out_link, in_link = getattr(a, f"o{pa}"), getattr(b, f"i{pb}")
                    side, way = "E" if p == PORT_E else "S", "fwd" if a is switch else "back"
                    name = f"{r}_{c}_{side}_{way}"
                    if self._link_registers:
                        stage = LinkRegister(layout)
                        m.submodules[f"link_{name}"] = stage
                        wiring.connect(m, out_link, stage.i)
                        wiring.connect(m, stage.o, in_link)
                    else:
                        wiring.connect(m, out_link, in_link)
                    check(name, out_link.valid, out_link.credit)

        # -- injection and ejection ---------------------------------------------------------
        delivered = []
        for (r, c), switch in switches.items():
            injector = CreditSender(layout, depth)
            ejector = CreditReceiver(layout, depth)
            m.submodules[f"inject_{r}_{c}"] = injector
            m.submodules[f"eject_{r}_{c}"] = ejector
            wiring.connect(m, wiring.flipped(getattr(self, f"inject_{r}_{c}")), injector.i)
            wiring.connect(m, injector.o, getattr(switch, f"i{PORT_LOCAL}"))
            wiring.connect(m, getattr(switch, f"o{PORT_LOCAL}"), ejector.i)
            eject = getattr(self, f"eject_{r}_{c}")
            wiring.connect(m, ejector.o, wiring.flipped(eject))
            check(f"inject_{r}_{c}", injector.o.valid, getattr(switch, f"i{PORT_LOCAL}").credit)
            check(f"eject_{r}_{c}", getattr(switch, f"o{PORT_LOCAL}").valid, ejector.i.credit)
            errors.append(ejector.overflow)
            delivered.append(eject.valid & eject.ready)

        with m.If(Cat(*errors).any()):
            m.d.sync += self.credit_error.eq(1)
        count = Signal(range(len(delivered) + 1))
        m.d.comb += count.eq(sum(delivered))
        m.d.sync += self.flits_delivered.eq(self.flits_delivered + count)
        return m


def make_mesh(rows: int, cols: int, data_width: int, flows: int = 64, buffer_depth: int = 2,
              seq_bits: int = 8, link_registers: bool = True) -> Mesh:
    """Factory for the build cache (JSON parameters)."""
    return Mesh(rows, cols, data_width, flows=flows, buffer_depth=buffer_depth,
                seq_bits=seq_bits, link_registers=link_registers)
