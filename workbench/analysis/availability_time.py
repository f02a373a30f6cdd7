"""Availability that does not depend on how fast clients retry (issue 14, item 2).

Three measures of availability, all in the run summary (docs/metrics.md, DESIGN.md
"Three availabilities"):

- per op (`metrics.availability_summary`): ok / invoked. It counts attempts, so a client
  that fails fast and retries every 10 ms contributes a hundred failures where a client
  whose request hangs until its timeout contributes one (Raft's minority on cap_partition:
  0.37 per op while 6 of 10 clients were served throughout);
- time-weighted (`availability_time*`): the fraction of client-time in which the
  client's current request (the last one it invoked) is answered ok, i.e. within its
  timeout. Each op owns its *slot*, the time from its invocation to the same client's
  next invocation (its think time, which is its retry backoff after a failure,
  included): a failing client is unavailable for the whole of its time however often it
  retries, a served one available for the whole of its time however long it thinks;
- per client (`clients_served*`): the share of clients served for at least half of their
  client-time in the window. One ok op is too weak a test (a deposed leader's lease
  read right after the cut "serves" a minority client for 20 s), every op ok too strict
  (one timeout during an election would un-serve a majority client); half is the midpoint
  and, for clients that are either served or refused throughout, gives the count the
  issue asks for.

Why the time-weighted figure does not move with think time, and by how much it may:
when a client's true state (served or refused) holds over a window, every op in it has
the same outcome, so the client's share is exactly 0 or 1 whatever the slot lengths.
Slot lengths only matter where the state changes: the time between the change and the
client's next invocation is credited to the op before it, at most one slot (latency +
think, <= timeout + think) per change per client. `attribution_bound` gives that bound
for a run; `tests/test_availability_time.py` asserts it.

Clients are slots (`process % clients`: a timed-out process's successor keeps its
slot, `workload/clients.py`) and sit beside node `client % nodes` for the whole run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.phases import fault_windows, network_states, partition_intervals

SERVED_SHARE = 0.5
"""A client counts as served in a window when at least this share of its client-time was."""

SIDES = ("majority", "minority", "ambiguous")


def op_slots(ops: pd.DataFrame, clients: int, by: Sequence[str] = ()) -> pd.DataFrame:
    """Each op's slot of client-time: [invoke, the same client's next invoke), the last
    op up to its completion (its invocation when it never completed)."""
    ordered = ops.assign(client=ops["process"] % clients).sort_values([*by, "client", "invoke_time"], kind="stable")
    nxt = ordered.groupby([*by, "client"], sort=False, observed=True)["invoke_time"].shift(-1)
    last_end = ordered["complete_time"].fillna(ordered["invoke_time"])
    return ordered.assign(slot_start=ordered["invoke_time"], slot_end=nxt.fillna(last_end))


def _client_windows(slots: pd.DataFrame, start_ms: float, end_ms: float, by: Sequence[str]) -> pd.DataFrame:
    """Per (*by, client): client_ms and available_ms inside [start_ms, end_ms)."""
    overlap = (np.minimum(slots["slot_end"], end_ms) - np.maximum(slots["slot_start"], start_ms)).clip(lower=0)
    frame = slots.assign(client_ms=overlap, available_ms=np.where(slots["type"].eq("ok"), overlap, 0.0))
    return frame.groupby([*by, "client"], observed=True)[["client_ms", "available_ms"]].sum().reset_index()


def _pooled(per_client: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Time-weighted share and the share of clients served, over the clients of each group."""
    per_client = per_client[per_client["client_ms"] > 0]
    per_client = per_client.assign(served=per_client["available_ms"] >= SERVED_SHARE * per_client["client_ms"])
    if by:
        out = per_client.groupby(list(by), observed=True).agg(
            client_ms=("client_ms", "sum"), available_ms=("available_ms", "sum"),
            clients=("served", "size"), served=("served", "sum")).reset_index()
    else:
        out = pd.DataFrame({"client_ms": [per_client["client_ms"].sum()],
                            "available_ms": [per_client["available_ms"].sum()],
                            "clients": [len(per_client)], "served": [int(per_client["served"].sum())]})
    out["availability_time"] = out["available_ms"] / out["client_ms"].where(out["client_ms"] > 0)
    out["clients_served"] = out["served"] / out["clients"].where(out["clients"] > 0)
    return out


def time_weighted_availability(ops: pd.DataFrame, start_ms: float, end_ms: float, clients: int,
                               by: Sequence[str] = ()) -> pd.DataFrame:
    """Columns: *by, client_ms, available_ms, availability_time (NaN without client-time)."""
    out = _pooled(_client_windows(op_slots(ops, clients, by), start_ms, end_ms, by), by)
    return out[[*by, "client_ms", "available_ms", "availability_time"]]


def clients_served(ops: pd.DataFrame, start_ms: float, end_ms: float, clients: int,
                   by: Sequence[str] = ()) -> pd.DataFrame:
    """Columns: *by, clients, served, clients_served (share served >= SERVED_SHARE of their time)."""
    out = _pooled(_client_windows(op_slots(ops, clients, by), start_ms, end_ms, by), by)
    return out[[*by, "clients", "served", "clients_served"]]


# ---------------------------------------------------------------- the run summary
def _merged(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def side_spans(trace: Sequence[Mapping[str, Any]], nodes: int, end_ms: float) -> pd.DataFrame:
    """Spans inside fault windows with each node's side: node, side, start, end (ms)."""
    states = network_states(trace, nodes)
    windows = fault_windows(trace, end_ms)
    rows = []
    for i, (state_start, side_of) in enumerate(states):
        state_end = states[i + 1][0] if i + 1 < len(states) else end_ms
        for w_start, w_end in windows[["start", "end"]].itertuples(index=False):
            start, end = max(state_start, w_start), min(state_end, w_end)
            if end > start:
                rows.extend({"node": node, "side": side_of.get(node, "majority"), "start": start, "end": end}
                            for node in range(nodes))
    return pd.DataFrame(rows, columns=["node", "side", "start", "end"])


def _per_client_in(slots: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """client_ms / available_ms per (client, label) over spans (client, label, start, end)."""
    frames = []
    by_client = dict(tuple(slots.groupby("client", sort=False)))
    for client, label, start, end in spans[["client", "label", "start", "end"]].itertuples(index=False):
        mine = by_client.get(client)
        if mine is None:
            continue
        frames.append(_client_windows(mine, start, end, ()).assign(label=label))
    if not frames:
        return pd.DataFrame(columns=["client", "label", "client_ms", "available_ms"])
    return pd.concat(frames).groupby(["label", "client"])[["client_ms", "available_ms"]].sum().reset_index()


def client_time_summary(ops: pd.DataFrame, trace: Sequence[Mapping[str, Any]], nodes: int, clients: int,
                        end_ms: float) -> dict[str, Any]:
    """`availability_time*` and `clients_served*` for the whole run, the partitions and
    each side during fault windows, as the per-op `availability*` fields."""
    trace = list(trace)
    names = ["", "_partitioned", *(f"_{side}" for side in SIDES)]
    out: dict[str, Any] = {f"{kind}{name}": None for name in names for kind in ("availability_time", "clients_served")}
    if ops.empty:
        return out
    slots = op_slots(ops, clients)
    spans = [{"client": c, "label": "", "start": 0.0, "end": np.inf} for c in range(clients)]
    cuts = _merged(partition_intervals(trace, end_ms)[["start", "end"]].itertuples(index=False))
    spans += [{"client": c, "label": "_partitioned", "start": s, "end": e} for s, e in cuts for c in range(clients)]
    sides = side_spans(trace, nodes, end_ms)
    spans += [{"client": c, "label": f"_{row.side}", "start": row.start, "end": row.end}
              for row in sides.itertuples(index=False) for c in range(row.node, clients, nodes)]
    per_client = _per_client_in(slots, pd.DataFrame(spans, columns=["client", "label", "start", "end"]))
    for row in _pooled(per_client, ["label"]).itertuples(index=False):
        out[f"availability_time{row.label}"] = None if pd.isna(row.availability_time) else float(row.availability_time)
        out[f"clients_served{row.label}"] = None if pd.isna(row.clients_served) else float(row.clients_served)
    return out


def attribution_bound(ops: pd.DataFrame, start_ms: float, end_ms: float, clients: int) -> float:
    """How far the time-weighted availability in [start_ms, end_ms) can be from the truth
    sampled continuously (module docstring): one slot per client at every change of
    outcome between its consecutive ops, plus the slot straddling the window's start,
    as a share of the window's client-time."""
    slots = op_slots(ops, clients)
    inside = slots[(slots["slot_end"] > start_ms) & (slots["slot_start"] < end_ms)]
    ok = inside["type"].eq("ok")
    changed = ok.ne(ok.groupby(inside["client"]).shift()) & inside["client"].duplicated()
    first = ~inside["client"].duplicated()
    length = inside["slot_end"] - inside["slot_start"]
    # A change between ops i-1 and i misattributes at most the slot of op i-1.
    previous = length.groupby(inside["client"]).shift().fillna(0.0)
    uncertain = float(previous[changed].sum() + length[first & (inside["slot_start"] < start_ms)].sum())
    total = float(_client_windows(slots, start_ms, end_ms, ())["client_ms"].sum())
    return uncertain / total if total else 0.0
