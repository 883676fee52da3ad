"""The critical path of a nextpnr ``--report`` JSON, summarised by design hierarchy."""

__all__ = ["critical_path"]


def _module(cell: str) -> str | None:
    # "rdu.tile.agcu.reader.mem__arvalid_LUT4_Z" -> "rdu.tile.agcu.reader"; cells nextpnr
    # made itself ("$nextpnr_CCU2C_3$CCU2_COMB0") belong to no module.
    if cell.startswith("$nextpnr"):
        return None
    head, dot, _ = cell.rpartition(".")
    return head if dot else "(top)"


def critical_path(report: dict) -> dict | None:
    """The slowest clock's critical path in ``report`` (nextpnr's JSON), or None.

    Returns ``from``/``to`` (start and end cells), ``delay_ns`` (the whole path: clock to
    Q, logic, routing, setup), ``logic_ns`` and ``routing_ns``, and ``through``: the
    modules the path passes, in order, each named once per visit.
    """
    fmax = report.get("fmax", {})
    paths = report.get("critical_paths", [])
    if not fmax or not paths:
        return None
    slowest = min(fmax, key=lambda clock: fmax[clock]["achieved"])
    chosen = next((p for p in paths if p.get("from", "").endswith(f" {slowest}")),
                  paths[0])
    segments = chosen["path"]
    if not segments:
        return None
    through = []
    for segment in segments:
        module = _module(segment["to"]["cell"])
        if module is not None and (not through or through[-1] != module):
            through.append(module)
    start = _module(segments[0]["from"]["cell"])
    if start is not None and (not through or through[0] != start):
        through.insert(0, start)
    by_type = {}
    for segment in segments:
        by_type[segment["type"]] = by_type.get(segment["type"], 0.0) + segment["delay"]
    return {
        "from": segments[0]["from"]["cell"],
        "to": segments[-1]["to"]["cell"],
        "delay_ns": round(sum(by_type.values()), 2),
        "logic_ns": round(by_type.get("logic", 0.0), 2),
        "routing_ns": round(by_type.get("routing", 0.0), 2),
        "through": through,
    }
