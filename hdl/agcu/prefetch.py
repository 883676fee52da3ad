"""The AGCU's word reads: one run, or a whole schedule read ahead of its execution."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .word_reader import WordReader

__all__ = ["Prefetcher", "SCHEDULE_ENTRY_WORDS", "job_layout"]

SCHEDULE_ENTRY_WORDS = 4   # program_addr, program_words, args_addr, args_words
JOBS_AHEAD = 4


def job_layout() -> data.StructLayout:
    """What the AGCU needs of a schedule entry to take its words from the word stream."""
    return data.StructLayout({"program_words": 32, "args_words": 32})


class Prefetcher(wiring.Component):
    """On ``start`` with ``schedule`` low: ``count`` words at byte ``addr`` out of ``words``.
    With ``schedule`` high: for each of ``count`` 16-byte entries at ``addr``
    {program_addr, program_words, args_addr, args_words}, a job {program_words,
    args_words} out of ``jobs``, and its program words then its argument words out of
    ``words``.

    A schedule is walked ahead of its use, as far as the :class:`WordReader`'s buffer of
    ``buffer_words`` words allows: an entry is read straight into registers (and only
    while ``jobs`` has room for it), then its program and argument runs are queued, then
    the next entry, whose request follows the argument run's without waiting for its
    data. Nothing past the last entry is read. ``start`` is taken only when idle: every
    word of the previous command read and taken (the AGCU starts a command once it has
    taken all the words of the one before).

    Reads use ARID ``read_id`` on ``mem`` (AR and R only); ``resp_error`` pulses for each
    R beat with an error response (its words are still delivered).
    """

    def __init__(self, data_width: int, *, addr_width: int = 32, id_width: int = 4,
                 read_id: int = 0, buffer_words: int = 128):
        self._reader = WordReader(data_width, addr_width=addr_width, id_width=id_width,
                                  read_id=read_id, buffer_words=buffer_words)
        self.axi_signature = self._reader.axi_signature
        super().__init__({
            "start": In(1),
            "schedule": In(1),
            "addr": In(32),
            "count": In(32),
            "words": Out(stream.Signature(32)),
            "jobs": Out(stream.Signature(job_layout())),
            "resp_error": Out(1),
            "mem": Out(self.axi_signature),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = self._reader
        wiring.connect(m, wiring.flipped(self.mem), reader.mem)
        wiring.connect(m, wiring.flipped(self.words), reader.words)
        m.d.comb += self.resp_error.eq(reader.resp_error)
        m.submodules.jobs = jobs = fifo.SyncFIFO(width=job_layout().size, depth=JOBS_AHEAD)
        m.d.comb += [self.jobs.payload.eq(jobs.r_data), self.jobs.valid.eq(jobs.r_rdy),
                     jobs.r_en.eq(self.jobs.ready)]

        entry = [Signal(32, name=f"entry_{name}") for name in
                 ("program_addr", "program_words", "args_addr", "args_words")]
        program_addr, program_words, args_addr, args_words = entry
        captured = Signal(range(SCHEDULE_ENTRY_WORDS + 1))   # words of the entry arrived
        self._capture(m, reader.beat, entry, captured)
        base, left = Signal(32), Signal(32)    # the next entry, entries not yet read

        def read(addr, count, direct=0):
            m.d.comb += [reader.start.eq(1), reader.addr.eq(addr), reader.count.eq(count),
                         reader.direct.eq(direct)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start & self.schedule):
                    m.d.sync += [base.eq(self.addr), left.eq(self.count)]
                    with m.If(self.count != 0):
                        m.next = "ENTRY"
                with m.Elif(self.start):
                    read(self.addr, self.count)

            with m.State("ENTRY"):
                with m.If(reader.ready & jobs.w_rdy):
                    read(base, SCHEDULE_ENTRY_WORDS, direct=1)
                    m.d.sync += [base.eq(base + 4 * SCHEDULE_ENTRY_WORDS), left.eq(left - 1),
                                 captured.eq(0)]
                    m.next = "WAIT_ENTRY"

            with m.State("WAIT_ENTRY"):
                with m.If(captured == SCHEDULE_ENTRY_WORDS):
                    job = Signal(job_layout())
                    m.d.comb += [job.program_words.eq(program_words),
                                 job.args_words.eq(args_words),
                                 jobs.w_data.eq(job), jobs.w_en.eq(1)]
                    m.next = "PROGRAM"

            with m.State("PROGRAM"):
                with m.If(reader.ready):
                    read(program_addr, program_words)
                    m.next = "ARGUMENTS"

            with m.State("ARGUMENTS"):
                with m.If(reader.ready):
                    read(args_addr, args_words)
                    with m.If(left != 0):
                        m.next = "ENTRY"
                    with m.Else():
                        m.next = "IDLE"
        return m

    @staticmethod
    def _capture(m, beat, entry, captured):
        """Each entry word of a direct beat into its register, in run order."""
        words_per_beat = len(beat.data) // 32
        with m.If(beat.valid):
            for k, register in enumerate(entry):
                for p in range(words_per_beat):
                    take = captured + p - beat.first == k
                    # (leaving out the comparisons that always hold: lint)
                    if p < words_per_beat - 1:
                        take &= beat.first <= p
                    if p > 0:
                        take &= beat.last >= p
                    with m.If(take):
                        m.d.sync += register.eq(beat.data[32 * p:32 * (p + 1)])
            m.d.sync += captured.eq(captured + beat.last - beat.first + 1)
