"""cocotb test modules shared by pytest and the command line (run in the simulator)."""
