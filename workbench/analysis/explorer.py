"""The interactive run explorer: one self-contained HTML page per run.

Like Porcupine's visualisation and Jepsen's timeline.html: every op of the history on a
time axis, one row per client process grouped by the node it sits beside; partitions,
crashes and pauses shaded; who led when in a lane on top; zoom (wheel) and pan (drag);
hovering an op shows its details and clicking pins them. For a history that is not
linearizable, the checker's witness is drawn on it: the ops of the longest linearizable
prefix it found, and the ops that cannot be placed next.

The page has no server and no CDN: the data is embedded as JSON and the script is
inline, so it opens from a mail attachment or a paper's artefact, offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from workbench.analysis.leadership import leader_tenures
from workbench.checkers.linearizability import NOT_LINEARIZABLE, check_linearizability
from workbench.checkers.pairing import pair_ops

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_OPS = 50_000
"""Ops drawn at most; past it the page says how many were left out (the browser would crawl)."""
WITNESS_BUDGET_S = 10.0


def explorer_data(history: Iterable[Mapping[str, Any]], trace: Iterable[Mapping[str, Any]],
                  *, nodes: int, end_ms: float, model: str | None = "cas-register",
                  title: str = "run") -> dict[str, Any]:
    """Everything the page draws, as plain JSON-able data (tested on its own)."""
    events = list(history)
    records = list(trace)
    ops = pair_ops(events)
    verdict, witness = None, None
    if model is not None and ops:
        result = check_linearizability(events, model, max_seconds=WITNESS_BUDGET_S)
        verdict = result.verdict
        if result.verdict == NOT_LINEARIZABLE and result.witness is not None:
            w = result.witness
            witness = {"key": _jsonable(w.key), "prefix": [op for op, _ in w.prefix],
                       "unplaceable": [o.op for o in w.unplaceable]}
    drawn = ops[:MAX_OPS]
    return {
        "title": title, "nodes": nodes, "end": end_ms, "verdict": verdict, "witness": witness,
        "left_out": len(ops) - len(drawn),
        "ops": [{"id": o.id, "process": o.process, "node": o.process % nodes, "f": o.f,
                 "key": _jsonable(o.key), "value": _jsonable(o.value), "type": o.type,
                 "result": _jsonable(o.result), "invoke": o.invoke_time,
                 "complete": o.complete_time} for o in drawn],
        "faults": fault_intervals(records, end_ms),
        "leaders": [{"node": int(r.node), "term": _jsonable(r.term), "start": r.start, "end": r.end}
                    for r in leader_tenures(records, end_ms).itertuples()] if records else [],
    }


def fault_intervals(trace: Iterable[Mapping[str, Any]], end_ms: float) -> list[dict[str, Any]]:
    """Partitions, crashes and pauses as [start, end) intervals with a label."""
    starts = {"partition_start": "partition", "crash": "crash", "pause": "pause"}
    ends = {"partition_end": "partition", "restart": "crash", "resume": "pause"}
    open_: dict[tuple[str, Any], dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for record in trace:
        kind = record.get("kind")
        if kind in starts:
            what = starts[kind]
            if what == "partition":
                groups = record.get("groups") or []
                label = f"{record.get('shape', 'partition')} " + " | ".join(
                    ",".join(str(n) for n in g) for g in groups)
                nodes = sorted({int(n) for g in groups for n in g})
            else:
                nodes = [int(record["node"])] if record.get("node") is not None else []
                label = f"{what} n{nodes[0]}" if nodes else what
            open_[(what, record.get("fault_id"))] = {"kind": what, "start": record["time"],
                                                      "end": end_ms, "label": label.strip(),
                                                      "nodes": nodes}
        elif kind in ends:
            interval = open_.pop((ends[kind], record.get("fault_id")), None)
            if interval is not None:
                interval["end"] = record["time"]
                done.append(interval)
    done.extend(open_.values())
    return sorted(done, key=lambda f: (f["start"], f["kind"]))


def render_explorer(data: Mapping[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    # `</` inside the JSON would end the <script> element early: escape the slash.
    payload = json.dumps(data, allow_nan=False, default=str).replace("</", "<\\/")
    return env.get_template("explorer.html.j2").render(title=data["title"], data=Markup(payload))


def write_explorer(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write `explorer.html` for a run folder (history.jsonl + trace/events + config)."""
    import yaml

    from workbench.analysis.trace import read_trace_records
    from workbench.history.events import read_jsonl

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    trace_path = next((run_dir / name for name in ("trace.jsonl", "events.jsonl")
                       if (run_dir / name).exists()), None)
    trace = read_trace_records(trace_path) if trace_path is not None else []
    history = read_jsonl(run_dir / "history.jsonl")
    kind = (config.get("workload") or {}).get("kind", "register")
    data = explorer_data(history, trace, nodes=int(config.get("nodes", 3)),
                         end_ms=float(config.get("duration_s", 0)) * 1000.0,
                         model="cas-register" if kind == "register" else "set",
                         title=f"{config.get('name', run_dir.name)} · {config.get('protocol', '')}"
                               f" · seed {config.get('seed', '')}")
    path = Path(out) if out is not None else run_dir / "explorer.html"
    path.write_text(render_explorer(data), encoding="utf-8")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, float) and value != value:  # NaN
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
