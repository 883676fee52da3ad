"""FPGA prototyping flow: synthesis and place-and-route for Lattice ECP5, and the host driver."""
