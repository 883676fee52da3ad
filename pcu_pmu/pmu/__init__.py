"""Pattern Memory Unit: banked SRAM scratchpad with affine write/read address generators.

``config`` (typed record and its byte image), ``params`` (hardware parameters),
``address_generator`` (nested affine counters), ``config_port`` (record from a
32-bit word stream), ``pmu`` (the unit and its ``make_pmu`` factory). The golden
model is ``testbench.golden.pmu``.

Semantics in one place:

* each side (write, read) sweeps its own address generator once per pass;
  ``passes`` passes per configuration; pass k uses buffer k mod ``n_buffers``
  (the banks' rows split into ``n_buffers`` equal parts); the write side may run
  up to ``n_buffers`` passes ahead of the read side.
* predication: an address g is used iff ``lo <= g < hi`` (unsigned), at local
  address ``g - lo``. Outside, a write still consumes its input beat and drops
  it; a read produces no output beat. ``hi - lo`` may not exceed one buffer.
* vector port (lanes = banks): a local address is a row; lane c goes to bank c
  (PLAIN) or bank (row + c) mod banks (DIAGONAL), so a TRANSPOSED read of a
  banks x banks tile gathers one column per beat, one element from every bank.
* ``half_write`` (vector write only): a write local address ``a`` of a buffer of
  R rows stores half ``a // R`` (0: low bits, 1: high bits of every lane) of row
  ``a mod R`` and leaves the other half; the write range may span 2 R addresses.
* scalar port: a local address is an element; bits ``[bank_shift,
  bank_shift + log2(banks))`` pick the bank, the remaining bits (low bits first)
  the row.
"""
