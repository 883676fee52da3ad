"""The ``rdu`` command line: one module per subcommand."""
