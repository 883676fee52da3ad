"""The Python side of the wires: golden models, bus-functional models, build and run
helpers, runtime and the ``rdu`` command line."""
