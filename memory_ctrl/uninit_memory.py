"""Large simulation memories without an initial-value block.

Amaranth 0.5 always emits a ``$meminit`` (an ``initial`` block writing every
word) for each memory. For multi-megabyte DRAM arrays that is hundreds of
thousands of Verilog lines and minutes of C++ compile time. Memories made here
carry the attribute ``rdu_uninitialized``; the RTLIL emitter is wrapped (once, on
import) to skip their init block, so Verilator starts them at zero and nothing
else changes. Every other memory is emitted exactly as before.
"""

from amaranth.back import rtlil
from amaranth.lib.memory import Memory

__all__ = ["UNINITIALIZED", "uninitialized_memory"]

UNINITIALIZED = "rdu_uninitialized"


def _patch() -> None:
    emitter = getattr(rtlil, "ModuleEmitter", None)
    original = getattr(emitter, "emit_memory", None)
    if original is None or getattr(original, "_rdu_patched", False):
        return

    def emit_memory(self, cell_idx, cell):
        if UNINITIALIZED in cell.attributes:
            return
        return original(self, cell_idx, cell)

    emit_memory._rdu_patched = True
    emitter.emit_memory = emit_memory


_patch()


def uninitialized_memory(*, shape, depth: int) -> Memory:
    """A :class:`Memory` whose generated Verilog has no initial block (reads 0 until written)."""
    return Memory(shape=shape, depth=depth, init=[], attrs={UNINITIALIZED: 1})
