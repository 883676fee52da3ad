"""Composition-of-Experts planning: checkpoints, traces, router, HBM/DDR placement,
schedulers, the session plan and its report (pure Python; execution is elsewhere)."""
