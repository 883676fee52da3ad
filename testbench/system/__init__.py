"""Host side of multi-socket systems: per-socket runtimes, scripted sessions, programs."""
