"""cocotb bus-functional models and checkers shared by every testbench."""
