"""The Python side of the wires: golden models, bus-functional models, build and run
helpers, runtime and the ``rdu`` command line.

Only packages live here, in layers. A package imports only from the layers below
it (it may import the RTL packages ``hdl``, ``pcu_pmu`` and ``memory_ctrl`` from
any layer; they never import ``testbench``). Packages that share a layer do not
import each other. Top to bottom:

1. ``cli``: the ``rdu`` command, one module per subcommand, and the parts the
   commands share: bench parts, the design catalog (``designs``), the table of
   numeric operations (``numerics_ops``), host-side drivers of the memory tiers
   (``mem_traffic``) and the systolic array (``bench_systolic``).
2. ``farm``: ``rdu regress`` on a Dask cluster. Only ``cli`` imports it, and it
   imports only ``sim``.
3. ``coe``: Composition-of-Experts planning, and running the plans.
4. ``system``: multi-socket sessions, collectives and tensor-parallel kernels.
5. ``compiler``, ``programs``, ``fpga`` and ``cocotb_tests``: the graph compiler,
   hand-built tile programs, the FPGA flow, and the cocotb test modules that run
   inside the simulator. No package imports ``cocotb_tests``: ``simulate()``
   names its modules by dotted path (``"testbench.cocotb_tests.host_player"``),
   from any layer. One cocotb test module still lives elsewhere:
   ``cli/link_sim.py`` (its driver and its cocotb test in one file).
6. ``runtime``: program images, the device memory map, the ``Runtime`` and
   scripted sessions.
7. ``golden``, ``bfm`` and ``sim``: NumPy golden models, cocotb bus-functional
   models and checkers, and the build and run machinery (Amaranth -> Verilog ->
   Verilator, cocotb runs).

``tests/`` sits above all of these and may import any of them. Nothing here
imports ``tests/``, and no module here names a ``tests/`` module to ``simulate()``.
"""
