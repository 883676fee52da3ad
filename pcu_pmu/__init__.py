"""Pattern Compute Unit and Pattern Memory Unit."""
