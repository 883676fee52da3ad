"""The PMU configuration record: one Amaranth layout, one Python dataclass, one byte image.

The :class:`PMUConfigLayout` struct is the single source of truth for the bit
layout; :class:`PMUConfig` is the typed Python record the compiler builds, and
``to_bytes()`` / ``from_bytes()`` go through the layout, so the RTL register and
the serialised image can never disagree. Little-endian, field order = bit order
(first field at bit 0), 56 bytes = 14 configuration words of 32 bits:

====== ====================================================================
bytes  field
====== ====================================================================
0-23   ``write`` address generator (see below)
24-47  ``read`` address generator
48-49  ``passes`` (u16): buffer fills (write passes) = buffer drains (read passes)
50     ``n_buffers`` (u8): N-buffering factor, a power of two dividing ``depth``
51     ``bank_shift`` (u8): the bank-select bits of a scalar address are
       ``[bank_shift, bank_shift + log2(banks))``
52     bit 0 ``write_port``, bit 1 ``write_layout``, bit 2 ``read_port``,
       bits 3-4 ``read_layout``, bit 5 ``half_write``, bit 6 ``reorder_input``,
       bit 7 ``read_credits``
53     ``initial_credits`` (u8)
54-55  ``reserved`` (zero)
====== ====================================================================

``reorder_input`` (tile): the PMU's vector input passes through the tile's
sequence reorder buffer while this configuration runs: flits are written in
``seq`` order 0, 1, 2, ... (mod 256, counted over all passes of the
configuration) whatever order they arrive in (see :mod:`hdl.tile.tile`).

``read_credits``: each read pass (the drain of one buffer, which is what feeds
the next pipeline stage) starts only when the PMU holds a credit; starting a
pass spends one. The PMU starts the configuration with ``initial_credits``
credits (typically the consumer's ``n_buffers``) and gains one per token on its
``credit_in`` line (the control fabric routes the consumer's "buffer finished"
tokens there). With ``read_credits`` off, ``initial_credits`` is ignored.

``half_write`` (vector write port only): the write side stores one half of each
word, so two streams can fill the two halves of the same rows one after the
other. With ``R = depth / n_buffers`` rows per buffer, local write address ``a``
(``0 <= a < 2 R``) writes row ``a mod R``; bit ``log2(R)`` of ``a`` picks the
half: 0 stores bits ``[0, width/2)`` of each lane into the same bits of its
word, 1 stores bits ``[width/2, width)`` (for 32-bit words: bits 0-15 and
16-31). The other half keeps its contents. The write range may then span
``2 R`` local addresses. With ``n_buffers = 1`` the half bit is bit
``log2(depth)``, just above the row bits.

Address generator (24 bytes): ``base`` (u32), ``lo`` (u32), ``hi`` (u32),
``bounds[0..2]`` (u16 each, level 0 innermost), ``strides[0..2]`` (s16 each).
"""

from dataclasses import dataclass, field, fields, replace
from math import prod

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum

from .params import PMUParams

__all__ = [
    "LEVELS", "CONFIG_WORDS", "CONFIG_BYTES", "Port", "WriteLayout", "ReadLayout",
    "AddressGenLayout", "PMUConfigLayout", "AddressGenConfig", "PMUConfig",
]

LEVELS = 3
ADDR_BITS = 32
COUNT_BITS = 16
STRIDE_BITS = 16


class Port(enum.Enum, shape=1):
    """Which stream a side uses: the lanes-wide vector port or the one-word scalar port."""

    VECTOR = 0
    SCALAR = 1


class WriteLayout(enum.Enum, shape=1):
    """How a vector beat is laid across the banks on write.

    PLAIN: lane c -> bank c. DIAGONAL: lane c of local row r -> bank (r + c) mod banks.
    """

    PLAIN = 0
    DIAGONAL = 1


class ReadLayout(enum.Enum, shape=2):
    """How a vector beat is gathered on read.

    PLAIN: lane c <- bank c, row a. DIAGONAL: lane c <- bank (a + c) mod banks, row a
    (undoes a DIAGONAL write). TRANSPOSED: address a = tile * banks + column; lane r
    <- bank (r + column) mod banks, row tile * banks + r: column ``column`` of a
    diagonally striped banks x banks tile, one element from every bank.
    """

    PLAIN = 0
    DIAGONAL = 1
    TRANSPOSED = 2


class AddressGenLayout(data.Struct):
    """One affine address generator: base + sum_k i_k * strides[k], i_k < bounds[k]."""

    base: unsigned(ADDR_BITS)
    lo: unsigned(ADDR_BITS)
    hi: unsigned(ADDR_BITS)
    bounds: data.ArrayLayout(unsigned(COUNT_BITS), LEVELS)
    strides: data.ArrayLayout(signed(STRIDE_BITS), LEVELS)


class PMUConfigLayout(data.Struct):
    """The configuration register of a PMU (bit layout of :class:`PMUConfig`)."""

    write: AddressGenLayout
    read: AddressGenLayout
    passes: unsigned(16)
    n_buffers: unsigned(8)
    bank_shift: unsigned(8)
    write_port: Port
    write_layout: WriteLayout
    read_port: Port
    read_layout: ReadLayout
    half_write: unsigned(1)
    reorder_input: unsigned(1)
    read_credits: unsigned(1)
    initial_credits: unsigned(8)
    reserved: unsigned(16)


CONFIG_BITS = data.Layout.cast(PMUConfigLayout).size
CONFIG_BYTES = CONFIG_BITS // 8
CONFIG_WORDS = CONFIG_BITS // 32
assert CONFIG_BITS == 32 * CONFIG_WORDS, "the record must fill whole configuration words"


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} = {value} is out of range [{low}, {high}]")


@dataclass(frozen=True)
class AddressGenConfig:
    """One side's address generator and valid range.

    The generator visits ``base + sum_k i_k * strides[k]`` (modulo 2**32) for
    ``i_0 < bounds[0]`` innermost to ``i_2 < bounds[2]`` outermost, one address per
    beat. Predication: an address ``g`` with ``lo <= g < hi`` (unsigned) is used at
    local address ``g - lo``; any other address is skipped (a write consumes and
    drops its beat, a read produces no beat).
    """

    base: int = 0
    bounds: tuple = (1,) * LEVELS
    strides: tuple = (0,) * LEVELS
    lo: int = 0
    hi: int = 0

    def __post_init__(self):
        object.__setattr__(self, "bounds", tuple(self.bounds))
        object.__setattr__(self, "strides", tuple(self.strides))

    @property
    def iterations(self) -> int:
        return prod(self.bounds)

    def check(self, name: str) -> None:
        """Raise ValueError naming ``name.<field>`` if a field does not fit its bits."""
        for key in ("base", "lo", "hi"):
            _check_int(f"{name}.{key}", getattr(self, key), 0, (1 << ADDR_BITS) - 1)
        for key in ("bounds", "strides"):
            if len(getattr(self, key)) != LEVELS:
                raise ValueError(f"{name}.{key} must have {LEVELS} entries, "
                                 f"not {len(getattr(self, key))}")
        for level, bound in enumerate(self.bounds):
            _check_int(f"{name}.bounds[{level}]", bound, 1, (1 << COUNT_BITS) - 1)
        for level, stride in enumerate(self.strides):
            _check_int(f"{name}.strides[{level}]", stride, -(1 << STRIDE_BITS - 1),
                       (1 << STRIDE_BITS - 1) - 1)
        if self.lo > self.hi:
            raise ValueError(f"{name}.lo = {self.lo} is above {name}.hi = {self.hi}")

    def _as_dict(self) -> dict:
        return {"base": self.base, "lo": self.lo, "hi": self.hi,
                "bounds": list(self.bounds), "strides": list(self.strides)}


@dataclass(frozen=True)
class PMUConfig:
    """What a PMU does between two configurations (see the module docstring for the bytes).

    The write side fills buffer ``k mod n_buffers`` in pass ``k`` (one write-generator
    sweep) while the read side drains buffer ``k - 1``; a buffer swaps when its
    side's generator finishes a sweep ("done"). Each side addresses its buffer of
    ``depth / n_buffers`` rows: a vector address is a row, a scalar address is an
    element whose bank is picked by the bits at ``bank_shift``.
    """

    write: AddressGenConfig = field(default_factory=AddressGenConfig)
    read: AddressGenConfig = field(default_factory=AddressGenConfig)
    passes: int = 1
    n_buffers: int = 1
    bank_shift: int = 0
    write_port: Port = Port.VECTOR
    write_layout: WriteLayout = WriteLayout.PLAIN
    read_port: Port = Port.VECTOR
    read_layout: ReadLayout = ReadLayout.PLAIN
    half_write: bool = False
    reorder_input: bool = False
    read_credits: bool = False
    initial_credits: int = 0

    # -- encoding --------------------------------------------------------------------------

    def check_encodable(self) -> None:
        """Raise ValueError naming the field that does not fit the record's bits."""
        for name in ("write", "read"):
            value = getattr(self, name)
            if not isinstance(value, AddressGenConfig):
                raise ValueError(f"{name} must be an AddressGenConfig, not {value!r}")
            value.check(name)
        _check_int("passes", self.passes, 1, 0xFFFF)
        _check_int("n_buffers", self.n_buffers, 1, 0xFF)
        _check_int("bank_shift", self.bank_shift, 0, 0xFF)
        for name in ("half_write", "reorder_input", "read_credits"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, not {getattr(self, name)!r}")
        _check_int("initial_credits", self.initial_credits, 0, 0xFF)
        for name, kind in (("write_port", Port), ("write_layout", WriteLayout),
                           ("read_port", Port), ("read_layout", ReadLayout)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, not "
                                 f"{getattr(self, name)!r}")

    def to_bytes(self) -> bytes:
        self.check_encodable()
        value = {f.name: getattr(self, f.name) for f in fields(self)}
        value["write"] = self.write._as_dict()
        value["read"] = self.read._as_dict()
        value["reserved"] = 0
        bits = data.Layout.cast(PMUConfigLayout).const(value).as_bits()
        return bits.to_bytes(CONFIG_BYTES, "little")

    def to_words(self) -> list[int]:
        """The 32-bit words the configuration port takes, first word first."""
        raw = self.to_bytes()
        return [int.from_bytes(raw[4 * i:4 * i + 4], "little") for i in range(CONFIG_WORDS)]

    @classmethod
    def from_bytes(cls, raw: bytes) -> "PMUConfig":
        if len(raw) != CONFIG_BYTES:
            raise ValueError(f"a PMU configuration is {CONFIG_BYTES} bytes, not {len(raw)}")
        bits = int.from_bytes(raw, "little")
        layout = data.Layout.cast(PMUConfigLayout)
        for name, kind in (("write_port", Port), ("write_layout", WriteLayout),
                           ("read_port", Port), ("read_layout", ReadLayout)):
            member = layout[name]
            code = (bits >> member.offset) & ((1 << member.width) - 1)
            if code not in {m.value for m in kind}:
                raise ValueError(f"{name} code {code} is not a {kind.__name__}")
        view = data.Const(layout, bits)
        if view.reserved != 0:
            raise ValueError(f"reserved bits must be zero, not {view.reserved:#x}")

        def side(v):
            return AddressGenConfig(base=v.base, lo=v.lo, hi=v.hi,
                                    bounds=tuple(v.bounds[i] for i in range(LEVELS)),
                                    strides=tuple(v.strides[i] for i in range(LEVELS)))

        return cls(write=side(view.write), read=side(view.read), passes=view.passes,
                   n_buffers=view.n_buffers, bank_shift=view.bank_shift,
                   write_port=Port(view.write_port), write_layout=WriteLayout(view.write_layout),
                   read_port=Port(view.read_port), read_layout=ReadLayout(view.read_layout),
                   half_write=bool(view.half_write), reorder_input=bool(view.reorder_input),
                   read_credits=bool(view.read_credits), initial_credits=view.initial_credits)

    @classmethod
    def from_words(cls, words) -> "PMUConfig":
        return cls.from_bytes(b"".join(int(w).to_bytes(4, "little") for w in words))

    def replace(self, **changes) -> "PMUConfig":
        return replace(self, **changes)

    # -- executability ---------------------------------------------------------------------

    def buffer_rows(self, params: PMUParams) -> int:
        return params.depth // self.n_buffers

    def capacity(self, params: PMUParams, port: Port) -> int:
        """Local addresses one buffer holds for ``port``: rows (vector) or elements (scalar)."""
        rows = self.buffer_rows(params)
        return rows if port is Port.VECTOR else rows * params.banks

    def write_capacity(self, params: PMUParams) -> int:
        """Local addresses of the write side: twice the rows with ``half_write``."""
        return (2 if self.half_write else 1) * self.capacity(params, self.write_port)

    def validate(self, params: PMUParams) -> "PMUConfig":
        """Return self if a PMU with ``params`` can run this; else ValueError naming a field."""
        if not isinstance(params, PMUParams):
            raise ValueError(f"params must be PMUParams, not {params!r}")
        self.check_encodable()
        n = self.n_buffers
        if n & (n - 1) or params.depth % n:
            raise ValueError(f"n_buffers = {n} does not divide the bank depth {params.depth} "
                             "into equal power-of-two buffers")
        rows = self.buffer_rows(params)
        max_shift = rows.bit_length() - 1
        if self.bank_shift > max_shift:
            raise ValueError(
                f"bank_shift = {self.bank_shift} puts the bank-select bits past the "
                f"{(rows * params.banks).bit_length() - 1}-bit scalar address of a buffer "
                f"({rows} rows x {params.banks} banks); the maximum is {max_shift}")
        if self.write_layout is WriteLayout.DIAGONAL and self.write_port is not Port.VECTOR:
            raise ValueError("write_layout = DIAGONAL needs write_port = VECTOR")
        if self.half_write and self.write_port is not Port.VECTOR:
            raise ValueError("half_write needs write_port = VECTOR")
        if self.reorder_input and self.write_port is not Port.VECTOR:
            raise ValueError("reorder_input needs write_port = VECTOR (the tile reorders the "
                             "vector input)")
        if self.half_write and params.width % 2:
            raise ValueError(f"half_write needs an even word width, not {params.width}")
        if self.read_layout is not ReadLayout.PLAIN and self.read_port is not Port.VECTOR:
            raise ValueError(f"read_layout = {self.read_layout.name} needs read_port = VECTOR")
        if self.read_layout is ReadLayout.TRANSPOSED and rows % params.banks:
            raise ValueError(
                f"read_layout = TRANSPOSED needs whole {params.banks}x{params.banks} tiles in a "
                f"buffer, but a buffer has {rows} rows (depth {params.depth} / n_buffers {n})")
        for name, port in (("write", self.write_port), ("read", self.read_port)):
            side = getattr(self, name)
            halves = name == "write" and self.half_write
            capacity = self.write_capacity(params) if name == "write" else self.capacity(
                params, port)
            if side.hi - side.lo > capacity:
                raise ValueError(
                    f"{name}.hi - {name}.lo = {side.hi - side.lo} exceeds the {capacity} "
                    f"{'half-rows' if halves else 'rows' if port is Port.VECTOR else 'elements'}"
                    f" of one buffer (depth {params.depth} / n_buffers {n}"
                    f"{'' if port is Port.VECTOR else f' x {params.banks} banks'}"
                    f"{' x 2 halves' if halves else ''})")
        return self
