"""Address Generation and Coalescing Unit: kernel launch and tensor streams to/from memory."""
