"""On-chip network: credit-linked flit mesh, sequence reorder buffer, control token fabric."""
