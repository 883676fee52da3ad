"""Shared RTL of the RDU model: bus signatures, numerics, streams, network, AGCU, tile and top.

Packages import downwards only:

1. base: ``hdl.bus`` (bus signatures, top-level ports; imports only amaranth) and ``hdl.numerics``
   (arithmetic units; imports only ``hdl.bus`` and itself);
2. ``pcu_pmu`` (compute and memory units) and ``memory_ctrl`` (DRAM tiers), which import
   only the base and themselves, not each other;
3. the rest of ``hdl``: ``memory``, ``network``, ``host``, ``agcu``, ``link``, ``tile``,
   ``rdu``, ``system``, ``fpga``, which may import anything below.

tests/test_package_layers.py checks layers 1 and 2.
"""
