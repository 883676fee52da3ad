"""Off-chip memory tiers: DRAM controllers, timing presets, copy engines."""
