"""Build and run machinery: Amaranth -> Verilog -> Verilator, cached; cocotb runs."""
