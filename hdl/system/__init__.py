"""Multi-socket RDU systems: sockets joined by RDU-to-RDU links at their AGCU nodes."""
