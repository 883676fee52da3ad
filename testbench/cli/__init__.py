"""The ``rdu`` command line: one module per subcommand, and the parts the commands share
(bench parts, the design catalog, numeric operations, memory-tier and systolic drivers)."""
