"""Pattern Compute Unit: header (FIFOs, counter chain), SIMD or systolic body, tail."""
