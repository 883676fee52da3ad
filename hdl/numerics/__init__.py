"""IEEE 754 binary32 / bfloat16 and int32 arithmetic units, pipelined with valid/ready.

Numerics contract (docs/architecture.md section 5): round-to-nearest-even, full
subnormal support, infinities, and every NaN result is the canonical quiet NaN
0x7FC00000.
"""
