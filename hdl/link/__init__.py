"""RDU-to-RDU link: framed packets with CRC-32, per-VC credits, go-back-N link retry,
a physical channel model with error injection, RTL traffic generators and checkers."""
