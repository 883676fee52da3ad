"""Simple memories with AXI4 slave ports."""
