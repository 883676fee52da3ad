"""Shared RTL of the RDU model: numerics, streams, network, AGCU, tile and top."""
