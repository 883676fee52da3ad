"""Draw the RDU's block diagram from an :class:`~hdl.rdu.config.RDUParams`.

    .venv/bin/python docs/draw_architecture.py                    # docs/architecture.png
    .venv/bin/python docs/draw_architecture.py --preset coe -o coe.png
    .venv/bin/python docs/draw_architecture.py --set rows=3 --set cols=3

The tile comes from ``config.units()`` (the PCU/PMU checkerboard on mesh nodes
``(r, c + 1)``) with the AGCU on node ``(0, 0)``; the device memory from
``config.memory`` (on-chip SRAM, or the HBM and DDR tiers of
:func:`hdl.rdu.memory_tiers.memory_tier_params` with the copy engine).
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hdl.rdu.config import DDR_BASE, UnitKind, rdu_params  # noqa: E402
from hdl.rdu.tier_params import memory_tier_params  # noqa: E402

COLOURS = {UnitKind.PCU: "#f4a582", UnitKind.PMU: "#92c5de", "agcu": "#b8e186",
           "host": "#e0e0e0", "memory": "#fddbc7", "link": "#d8daeb", "switch": "#ffffff"}
PITCH_X, PITCH_Y = 2.6, 2.0   # mesh node spacing
UNIT_W, UNIT_H = 2.1, 1.3     # a unit's box
TILE_X0, TILE_TOP = 7.4, 9.9  # centre of node (0, 0), the AGCU
SIDE_X, SIDE_W = 0.0, 2.2     # host and other sockets, left of the chip
PORT_X, PORT_W = 3.3, 2.2     # host port and link node, inside the chip
CHIP_LEFT = 2.85


def _box(ax, x, y, w, h, text, colour, size=8.5, weight="normal"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", facecolor=colour,
                                edgecolor="#333333", linewidth=1.0))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
            weight=weight, linespacing=1.3)


def _line(ax, points, colour="#333333", head=True, both=False):
    """A polyline; the last segment is an arrow (``both``: arrow heads at both ends)."""
    xs, ys = zip(*points, strict=True)
    ax.plot(xs[:-1], ys[:-1], color=colour, linewidth=1.2)
    if len(points) > 2:
        ax.plot(xs[-2:], ys[-2:], color=colour, linewidth=1.2)
    if head:
        style = "<|-|>" if both else "-|>"
        ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle=style,
                                     mutation_scale=12, color=colour, linewidth=1.2))
        if both and len(points) > 2:
            ax.add_patch(FancyArrowPatch(points[1], points[0], arrowstyle="-|>",
                                         mutation_scale=12, color=colour, linewidth=1.2))


def _label(ax, x, y, text, colour="#333333", size=8, **options):
    ax.text(x, y, text, ha=options.pop("ha", "center"), va=options.pop("va", "bottom"),
            fontsize=size, color=colour, **options)


def _node_centre(row: int, col: int) -> tuple[float, float]:
    return TILE_X0 + PITCH_X * col, TILE_TOP - PITCH_Y * row


def _draw_tile(ax, config) -> tuple[float, float]:
    """The mesh, its units and the AGCU; returns the tile's right and bottom edges."""
    rows, cols = config.mesh_shape
    for r in range(rows):  # both meshes follow this grid
        for c in range(cols):
            x, y = _node_centre(r, c)
            if c + 1 < cols:
                ax.plot([x, x + PITCH_X], [y, y], color="#555555", linewidth=2.5, zorder=0)
            if r + 1 < rows:
                ax.plot([x, x], [y, y - PITCH_Y], color="#555555", linewidth=2.5, zorder=0)
    pcu, pmu = config.pcu_params(), config.pmu_params()
    for index, (kind, (r, c)) in enumerate(config.units()):
        x, y = _node_centre(r, c)
        if kind == UnitKind.PCU:
            body = "systolic + SIMD" if config.systolic else "SIMD"
            text = f"PCU (unit {index})\n{pcu.lanes} lanes x {pcu.stages} stages\n{body}, tail"
        else:
            text = f"PMU (unit {index})\n{pmu.banks} banks x {pmu.depth} words\nN-buffered SRAM"
        _box(ax, x - UNIT_W / 2, y - UNIT_H / 2, UNIT_W, UNIT_H, text, COLOURS[kind], size=8)
    _box(ax, TILE_X0 - UNIT_W / 2, TILE_TOP - UNIT_H / 2, UNIT_W, UNIT_H,
         f"AGCU\n{config.agcu_streams} streams,\ncommands, schedules", COLOURS["agcu"],
         size=8, weight="bold")
    for r in range(1, rows):  # the west-edge nodes below the AGCU hold a switch only
        x, y = _node_centre(r, 0)
        _box(ax, x - 0.35, y - 0.2, 0.7, 0.4, "switch", COLOURS["switch"], size=7)
    right = _node_centre(0, cols - 1)[0] + UNIT_W / 2
    bottom = _node_centre(rows - 1, 0)[1] - UNIT_H / 2
    middle = (TILE_X0 - UNIT_W / 2 + right) / 2
    _label(ax, middle, TILE_TOP + UNIT_H / 2 + 0.15,
           f"tile (hdl/tile): {config.rows} x {config.cols} PCU/PMU checkerboard\n"
           f"on a {rows} x {cols} mesh, AGCU on the west edge", size=9, weight="bold")
    _label(ax, middle, bottom - 0.2,
           f"vector mesh ({config.vector_bits}-bit flits) + scalar mesh (32-bit): credits on "
           f"every hop, static flow routes\ncontrol fabric: 1-bit done and credit tokens "
           f"(hdl/network)", size=8, va="top", style="italic")
    return right, bottom


def _draw_memory(ax, config, left, right, top) -> tuple[float, float]:
    """Device memory from ``top`` down; returns the y where its AXI4 ports enter and
    the bottom of what it drew."""
    if config.memory != "tiers":
        _box(ax, left, top - 1.4, right - left, 1.4,
             f"device memory: on-chip SRAM, {config.memory_bytes // 1024} KiB\n"
             f"2 AXI4 ports (host, AGCU), {config.vector_bits}-bit beats "
             f"(hdl/memory/axi_sram.py)", COLOURS["memory"], size=9)
        return top - 0.7, top - 1.9
    tiers = memory_tier_params(config)
    hbm, ddr = tiers["hbm"], tiers["ddr"]
    bridge_y = top - 0.6
    _box(ax, left, bridge_y, right - left, 0.6,
         f"tier bridge (hdl/memory): HBM at 0, DDR at {DDR_BASE:#x}",
         COLOURS["host"], size=8)
    tier_w, tier_h = 3.0, 1.9
    tier_top = bridge_y - 0.6
    k, n = ddr.clock_enable
    for x, text in (
            (left, f"HBM2 tier\n{hbm.channels} channel(s), {hbm.capacity // 1024} KiB\n"
                   f"{hbm.peak_bytes_per_cycle:.1f} B/cycle peak\n"
                   f"controllers + timing checkers"),
            (right - tier_w, f"DDR4-3200 tier\n{ddr.channels} channel, "
                             f"{ddr.capacity // 1024} KiB\nclock on {k} of {n} cycles: "
                             f"{ddr.peak_bytes_per_cycle:.1f} B/cycle\n"
                             f"controllers + timing checkers")):
        _box(ax, x, tier_top - tier_h, tier_w, tier_h, text, COLOURS["memory"], size=8)
        _line(ax, [(x + tier_w / 2, bridge_y - 0.02), (x + tier_w / 2, tier_top + 0.02)],
              both=True)
    copy_y = tier_top - tier_h / 2
    _line(ax, [(right - tier_w - 0.05, copy_y), (left + tier_w + 0.05, copy_y)],
          colour="#b2182b", both=True)
    _label(ax, (left + right) / 2, copy_y + 0.1,
           f"copy engine\n{config.copy_burst_bytes} B bursts", colour="#b2182b")
    _label(ax, (left + right) / 2, tier_top - tier_h - 0.15,
           "memory_ctrl/: DRAM controllers, devices, timing checkers, copy engine",
           size=8, va="top", style="italic")
    return bridge_y + 0.3, tier_top - tier_h - 0.8


def _draw_host(ax, memory_port_y: float):
    """The host: commands through the host port, data straight into device memory."""
    agcu_left = TILE_X0 - UNIT_W / 2
    y = TILE_TOP
    _box(ax, SIDE_X, y - 0.75, SIDE_W, 1.5, "host\nRuntime\n(testbench/runtime)",
         COLOURS["host"], size=9, weight="bold")
    _box(ax, PORT_X, y - 0.65, PORT_W, 1.3, "host port\nAXI4-Lite registers\n(hdl/host)",
         COLOURS["host"], size=8)
    _line(ax, [(SIDE_X + SIDE_W + 0.05, y + 0.3), (PORT_X - 0.05, y + 0.3)])
    _label(ax, (SIDE_X + SIDE_W + PORT_X) / 2, y + 0.35, "AXI4-Lite", size=7.5)
    _line(ax, [(PORT_X + PORT_W + 0.05, y), (agcu_left - 0.05, y)])
    _label(ax, (PORT_X + PORT_W + agcu_left) / 2, y + 0.05, "commands", size=7.5)
    _line(ax, [(SIDE_X + 0.3, y - 0.8), (SIDE_X + 0.3, memory_port_y),
               (agcu_left - 0.05, memory_port_y)])
    _label(ax, (CHIP_LEFT + agcu_left) / 2, memory_port_y + 0.05,
           "AXI4: host <-> device memory", size=7.5)


def _draw_link(ax):
    """The RDU-to-RDU link, through a link node in front of the AGCU."""
    agcu_left = TILE_X0 - UNIT_W / 2
    y = TILE_TOP - 2.6
    _box(ax, PORT_X, y - 0.75, PORT_W, 1.5,
         "link node + endpoint\nCRC-32 frames,\ngo-back-N, credits\n(hdl/system, hdl/link)",
         COLOURS["link"], size=8)
    _line(ax, [(PORT_X + PORT_W + 0.05, y + 0.45),
               (agcu_left - 0.05, TILE_TOP - UNIT_H / 2 + 0.1)], both=True)
    _box(ax, SIDE_X, y - 0.75, SIDE_W, 1.5, "other RDU\nsockets\n(ring or full)",
         COLOURS["link"], size=9, weight="bold")
    _line(ax, [(SIDE_X + SIDE_W + 0.05, y), (PORT_X - 0.05, y)], both=True)
    _label(ax, (SIDE_X + SIDE_W + PORT_X) / 2, y + 0.08, "link", size=7.5)


def draw(config, title: str, out: Path) -> Path:
    """Draw ``config``'s blocks into ``out`` (PNG) and return the path."""
    fig, ax = plt.subplots(figsize=(13, 9))
    right, tile_bottom = _draw_tile(ax, config)
    agcu_left = TILE_X0 - UNIT_W / 2
    memory_top = tile_bottom - 1.1
    memory_port_y, memory_bottom = _draw_memory(ax, config, agcu_left, right, memory_top)
    _draw_host(ax, memory_port_y)
    agcu_mem_x = agcu_left + 0.3
    _line(ax, [(agcu_mem_x, TILE_TOP - UNIT_H / 2 - 0.05), (agcu_mem_x, memory_port_y + 0.32)],
          colour="#1b7837", both=True)
    _label(ax, agcu_mem_x - 0.1, (tile_bottom + memory_port_y) / 2 - 0.3, "AGCU AXI4\nstreams",
           colour="#1b7837", size=7.5, ha="right")
    _draw_link(ax)
    chip_right, chip_top, chip_bottom = right + 0.4, TILE_TOP + UNIT_H / 2 + 0.7, memory_bottom
    ax.add_patch(FancyBboxPatch((CHIP_LEFT, chip_bottom), chip_right - CHIP_LEFT,
                                chip_top - chip_bottom, boxstyle="round,pad=0.1",
                                facecolor="none", edgecolor="#777777", linestyle="--"))
    _label(ax, chip_right - 0.1, chip_bottom + 0.1, "one RDU socket (hdl/rdu/top.py)",
           colour="#555555", ha="right")
    _label(ax, (SIDE_X + chip_right) / 2, chip_top + 0.3, title, size=11, weight="bold")
    ax.set_xlim(SIDE_X - 0.2, chip_right + 0.3)
    ax.set_ylim(chip_bottom - 0.3, chip_top + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tile2x2")
    parser.add_argument("--set", action="append", default=["memory=\"tiers\""],
                        metavar="NAME=JSON", help="override a field (default: memory=tiers)")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).with_name(
        "architecture.png"))
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            overrides[name] = json.loads(value)
        except json.JSONDecodeError:
            overrides[name] = value
    config = rdu_params(args.preset, **overrides)
    shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
    title = f'RDU block diagram: rdu_params("{args.preset}"{", " + shown if shown else ""})'
    print(draw(config, title, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
