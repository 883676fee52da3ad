"""The Address Generation and Coalescing Unit: command sequencer over memory and the tile."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import AXI4Signature, connect_flat, flat_members
from hdl.network.flit import flit_layout

from .arguments import HEADER_WORDS, WORDS_PER_DESCRIPTOR
from .commands import Command, command_layout
from .kernel_engine import KernelEngine
from .prefetch import SCHEDULE_ENTRY_WORDS, Prefetcher

__all__ = ["AGCU", "AGCUTop", "make_agcu_top", "SCHEDULE_ENTRY_WORDS"]


class AGCU(wiring.Component):
    """Executes commands from ``cmd`` one after the other (see :class:`Command`).

    * PROGRAM_LOAD addr, length: ``length`` words at byte ``addr`` out of ``cfg_out``.
    * ARGUMENT_LOAD addr, length: ``length`` words at ``addr`` into the argument
      registers (format in :mod:`hdl.agcu.arguments`); more than ``max_streams``
      descriptors set ``error`` and the extra ones are ignored.
    * KERNEL_EXECUTE: run the loaded descriptors (:class:`KernelEngine`) to completion.
    * SCHEDULE addr, length: for each of ``length`` 16-byte entries at ``addr``
      {program_addr, program_words, args_addr, args_words}: PROGRAM_LOAD (skipped
      when program_words == 0), ARGUMENT_LOAD, KERNEL_EXECUTE. The entries, programs
      and arguments are read ahead (:class:`Prefetcher`, a buffer of ``prefetch_words``
      words), also while a kernel runs, so the next kernel's program leaves ``cfg_out``
      and its arguments load without waiting for memory.
    * any other op: ``error``, and the command counts as done.

    Memory traffic is on ``mem`` (AXI4 master): kernel streams use IDs 0 ..
    max_streams-1, word reads (program, arguments, schedule) ID 2**id_width - 1; the
    kernel's ARs go first, but an AR waiting at ``mem`` keeps the port until taken. Word
    addresses must be multiples of 4. ``busy`` is high while a command runs; ``error`` is
    sticky (AXI error response, unknown flow, bad command); counters ``kernels_done``,
    ``commands_done``; ``kernel_running`` is high while a kernel executes (its program
    and arguments in place); ``kernel_cycles`` is the cycle count of the last kernel execution
    (start to complete); ``program_cycles`` counts every cycle spent sending programs out
    of ``cfg_out`` (mod 2**32), so the host can tell a schedule's program loads from its
    kernels.
    """

    def __init__(self, data_width: int = 128, *, addr_width: int = 32, id_width: int = 4,
                 max_streams: int = 4, outstanding: int = 4, prefetch_words: int = 128):
        if max_streams >= 1 << id_width:
            raise ValueError(f"{max_streams} streams plus the word reader need more than "
                             f"{id_width} ID bits")
        if data_width < 32:
            raise ValueError(f"data width {data_width} is narrower than a 32-bit word")
        self.data_width, self.addr_width, self.id_width = data_width, addr_width, id_width
        self.max_streams, self.outstanding = max_streams, outstanding
        self.prefetch_words = prefetch_words
        self.axi_signature = AXI4Signature(addr_width=addr_width, data_width=data_width,
                                           id_width=id_width)
        flit = flit_layout(data_width)
        super().__init__({
            "mem": Out(self.axi_signature),
            "cmd": In(stream.Signature(command_layout())),
            "cfg_out": Out(stream.Signature(32)),
            "vec_out": Out(stream.Signature(flit)),
            "vec_in": In(stream.Signature(flit)),
            "done_in": In(1),
            "busy": Out(1),
            "kernel_running": Out(1),
            "error": Out(1),
            "kernels_done": Out(32),
            "commands_done": Out(32),
            "kernel_cycles": Out(32),
            "program_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.max_streams
        reader_id = (1 << self.id_width) - 1
        m.submodules.prefetch = prefetch = Prefetcher(
            self.data_width, addr_width=self.addr_width, id_width=self.id_width,
            read_id=reader_id, buffer_words=self.prefetch_words)
        m.submodules.engine = engine = KernelEngine(
            self.data_width, addr_width=self.addr_width, id_width=self.id_width,
            max_streams=n, outstanding=self.outstanding)
        self._connect_memory(m, prefetch, engine, reader_id)
        wiring.connect(m, wiring.flipped(self.vec_out), engine.vec_out)
        wiring.connect(m, wiring.flipped(self.vec_in), engine.vec_in)
        words = prefetch.words
        m.d.comb += [engine.done_in.eq(self.done_in), self.kernel_cycles.eq(engine.cycles),
                     self.kernel_running.eq(engine.running),
                     self.cfg_out.payload.eq(words.payload)]
        with m.If(engine.complete):
            m.d.sync += self.kernels_done.eq(self.kernels_done + 1)

        # argument registers
        stream_count = Signal(range(n + 1))
        done_tokens = Signal(32)
        descriptors = engine.descriptors
        m.d.comb += [engine.count.eq(stream_count), engine.done_tokens.eq(done_tokens)]
        # words still to take from the prefetcher, schedule entries not yet started
        program_left, args_left, jobs_left = Signal(32), Signal(32), Signal(32)
        scheduled = Signal()
        word_index = Signal(32)
        op, cmd_addr, cmd_length = Signal(4), Signal(32), Signal(32)
        set_error = Signal()
        with m.If(set_error | prefetch.resp_error | engine.error):
            m.d.sync += self.error.eq(1)

        def read_words(schedule=0):
            m.d.comb += [prefetch.start.eq(1), prefetch.schedule.eq(schedule),
                         prefetch.addr.eq(cmd_addr), prefetch.count.eq(cmd_length)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    payload = self.cmd.payload
                    m.d.sync += [op.eq(payload.op), cmd_addr.eq(payload.addr),
                                 cmd_length.eq(payload.length), scheduled.eq(0),
                                 program_left.eq(payload.length), args_left.eq(payload.length),
                                 jobs_left.eq(payload.length), word_index.eq(0)]
                    m.next = "DISPATCH"

            with m.State("DISPATCH"):
                m.d.comb += self.busy.eq(1)
                with m.Switch(op):
                    with m.Case(Command.PROGRAM_LOAD):
                        read_words()
                        m.next = "LOAD_PROGRAM"
                    with m.Case(Command.ARGUMENT_LOAD):
                        read_words()
                        m.next = "LOAD_ARGUMENTS"
                    with m.Case(Command.KERNEL_EXECUTE):
                        m.d.comb += engine.start.eq(1)
                        m.next = "EXECUTE"
                    with m.Case(Command.SCHEDULE):
                        m.d.sync += scheduled.eq(1)
                        with m.If(cmd_length == 0):
                            m.next = "FINISH"
                        with m.Else():
                            read_words(schedule=1)
                            m.next = "NEXT_ENTRY"
                    with m.Default():
                        m.d.comb += set_error.eq(1)
                        m.next = "FINISH"

            with m.State("NEXT_ENTRY"):
                m.d.comb += [self.busy.eq(1), prefetch.jobs.ready.eq(1)]
                job = prefetch.jobs.payload
                with m.If(prefetch.jobs.valid):
                    m.d.sync += [program_left.eq(job.program_words),
                                 args_left.eq(job.args_words), word_index.eq(0),
                                 jobs_left.eq(jobs_left - 1)]
                    with m.If(job.program_words != 0):
                        m.next = "LOAD_PROGRAM"
                    with m.Else():
                        m.next = "LOAD_ARGUMENTS"

            with m.State("LOAD_PROGRAM"):
                sending = program_left != 0
                m.d.comb += [self.busy.eq(1), self.cfg_out.valid.eq(words.valid & sending),
                             words.ready.eq(self.cfg_out.ready & sending)]
                m.d.sync += self.program_cycles.eq(self.program_cycles + 1)
                with m.If(words.valid & words.ready):
                    m.d.sync += program_left.eq(program_left - 1)
                with m.If(~sending):
                    with m.If(scheduled):
                        m.next = "LOAD_ARGUMENTS"
                    with m.Else():
                        m.next = "FINISH"

            with m.State("LOAD_ARGUMENTS"):
                loading = args_left != 0
                m.d.comb += [self.busy.eq(1), words.ready.eq(loading)]
                word = words.payload
                with m.If(words.valid & words.ready):
                    m.d.sync += [args_left.eq(args_left - 1), word_index.eq(word_index + 1)]
                    with m.If(word_index == 0):
                        with m.If(word > n):
                            m.d.comb += set_error.eq(1)
                            m.d.sync += stream_count.eq(n)
                        with m.Else():
                            m.d.sync += stream_count.eq(word)
                    with m.If(word_index == 1):
                        m.d.sync += done_tokens.eq(word)
                    for j in range(n):
                        fields = [None, descriptors[j].base,
                                  *(descriptors[j].bounds[level] for level in range(3)),
                                  *(descriptors[j].strides[level] for level in range(3))]
                        for k in range(WORDS_PER_DESCRIPTOR):
                            with m.If(word_index == HEADER_WORDS + WORDS_PER_DESCRIPTOR * j + k):
                                if k == 0:
                                    m.d.sync += [descriptors[j].direction.eq(word[0]),
                                                 descriptors[j].ordered.eq(word[1]),
                                                 descriptors[j].flow.eq(word[8:14]),
                                                 descriptors[j].first_seq.eq(word[16:24])]
                                else:
                                    m.d.sync += fields[k].eq(word)
                # The kernel starts the cycle after the last word (its registers set).
                with m.If(~loading):
                    with m.If(scheduled):
                        m.d.comb += engine.start.eq(1)
                        m.next = "EXECUTE"
                    with m.Else():
                        m.next = "FINISH"

            with m.State("EXECUTE"):
                m.d.comb += self.busy.eq(1)
                with m.If(~engine.running):
                    with m.If(scheduled & (jobs_left != 0)):
                        m.next = "NEXT_ENTRY"
                    with m.Else():
                        m.next = "FINISH"

            with m.State("FINISH"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += self.commands_done.eq(self.commands_done + 1)
                m.next = "IDLE"
        return m

    def _connect_memory(self, m, prefetch, engine, reader_id):
        """AR from the kernel engine or the prefetcher, R by ID; AW/W/B belong to the engine.

        AR grant: the engine first, but an AR that waits at ``mem`` (ARVALID without
        ARREADY) keeps the port until taken, so its payload stays stable as AXI requires
        (both sources hold their ARVALID until taken). Neither source's R beats ever wait:
        the engine and the prefetcher request a burst only with room for all its beats.
        """
        mem = self.mem
        for name in ("awid", "awaddr", "awlen", "awsize", "awburst", "awvalid", "wdata", "wstrb",
                     "wlast", "wvalid", "bready"):
            m.d.comb += getattr(mem, name).eq(getattr(engine.mem, name))
        for name in ("awready", "wready", "bid", "bresp", "bvalid"):
            m.d.comb += getattr(engine.mem, name).eq(getattr(mem, name))
        held = Signal()            # an AR waited at mem last cycle: its source keeps the port
        held_reader = Signal()
        to_reader = Signal()
        m.d.comb += to_reader.eq(Mux(held, held_reader,
                                     ~engine.mem.arvalid & prefetch.mem.arvalid))
        m.d.sync += [held.eq(mem.arvalid & ~mem.arready), held_reader.eq(to_reader)]
        ar_fields = ("arid", "araddr", "arlen", "arsize", "arburst", "arvalid")
        with m.If(to_reader):
            m.d.comb += [getattr(mem, f).eq(getattr(prefetch.mem, f)) for f in ar_fields]
            m.d.comb += prefetch.mem.arready.eq(mem.arready)
        with m.Else():
            m.d.comb += [getattr(mem, f).eq(getattr(engine.mem, f)) for f in ar_fields]
            m.d.comb += engine.mem.arready.eq(mem.arready)
        for unit in (prefetch, engine):
            m.d.comb += [getattr(unit.mem, f).eq(getattr(mem, f))
                         for f in ("rid", "rdata", "rresp", "rlast")]
        r_reader = mem.rid == reader_id
        m.d.comb += [prefetch.mem.rvalid.eq(mem.rvalid & r_reader),
                     engine.mem.rvalid.eq(mem.rvalid & ~r_reader)]
        with m.If(r_reader):
            m.d.comb += mem.rready.eq(prefetch.mem.rready)
        with m.Else():
            m.d.comb += mem.rready.eq(engine.mem.rready)


class AGCUTop(wiring.Component):
    """:class:`AGCU` with its memory port as flat ``m_axi_*`` ports (cocotbext-axi naming)."""

    def __init__(self, **options):
        self._agcu = AGCU(**options)
        members = flat_members("m_axi", self._agcu.axi_signature, slave=False)
        for name, member in self._agcu.signature.members.items():
            if name != "mem":
                members[name] = member
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.agcu = agcu = self._agcu
        connect_flat(m, self, "m_axi", agcu.mem, slave=False)
        for name, member in agcu.signature.members.items():
            if name == "mem":
                continue
            if member.is_signature:
                wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(agcu, name))
            elif member.flow == In:
                m.d.comb += getattr(agcu, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(agcu, name))
        return m


def make_agcu_top(data_width: int = 128, max_streams: int = 4, outstanding: int = 4,
                  prefetch_words: int = 128) -> AGCUTop:
    """``Design`` factory: ``hdl.agcu.agcu:make_agcu_top(data_width=128)``."""
    return AGCUTop(data_width=data_width, max_streams=max_streams, outstanding=outstanding,
                   prefetch_words=prefetch_words)
