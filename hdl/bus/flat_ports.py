"""Bus signatures declared by a field table, and their flat top-level ports.

A field table maps each field to ``(width, driven by the master)``; a width may be
a key (``"addr"``, ``"data"``, ...) that the signature sizes. Signatures are declared
as the master sees them (``Out``: driven by the master); ``.flip()`` or ``In(...)``
for a slave.

Amaranth flattens a nested interface as ``<member>__<field>``; cocotbext-axi's
``AxiBus.from_prefix(dut, "s_axi")`` looks for ``s_axi_awaddr`` etc. Top-level
components therefore declare flat members with :func:`flat_members` and wire them
to a nested interface with :func:`connect_flat`.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FieldTableSignature", "flat_members", "connect_flat"]


class FieldTableSignature(wiring.Signature):
    """A bus of plain ports from ``fields`` (see above), width keys looked up in ``sizes``."""

    def __init__(self, fields: dict, sizes: dict):
        super().__init__({name: (Out if master else In)(sizes.get(width, width))
                          for name, (width, master) in fields.items()})


def _master_view(signature: wiring.Signature) -> wiring.Signature:
    if isinstance(signature, wiring.FlippedSignature):
        return signature.flip()
    return signature


def flat_members(prefix: str, signature: wiring.Signature, slave: bool = True) -> dict:
    """Members ``<prefix>_<field>`` for a top-level component (a slave port by default)."""
    return {f"{prefix}_{name}": member.flip() if slave else member
            for name, member in _master_view(signature).members.items()}


def connect_flat(m, top, prefix: str, interface, slave: bool = True) -> None:
    """Wire flat ports ``<prefix>_*`` of ``top`` to the nested bus ``interface``.

    ``slave=True``: ``interface`` is a slave inside ``top`` (the port faces a master).
    """
    for name, member in _master_view(interface.signature).members.items():
        flat, inner = getattr(top, f"{prefix}_{name}"), getattr(interface, name)
        if (member.flow == Out) == slave:
            m.d.comb += inner.eq(flat)
        else:
            m.d.comb += flat.eq(inner)
