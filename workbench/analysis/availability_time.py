"""Availability that does not depend on how fast clients retry (issue 14, item 2).

Per-op availability (ok / invoked) counts attempts, so a client that fails fast and
retries every 10 ms contributes a hundred failures where a client whose request hangs
until its timeout contributes one. Two measures that count clients and time instead:

- `time_weighted_availability`: the fraction of client-time in a window during which
  the client's current request (the last one it invoked) is answered ok. Each op owns
  the time from its invocation to the client's next invocation (its think time
  included): a failing client is unavailable for the whole of its time however often it
  retries, a served one available for the whole of its time however long it thinks.
- `clients_served`: the share of clients with at least one ok op in the window.

Both take the ops frame of a run (or many runs, grouped by `by`) and the number of
client slots: a Jepsen process that times out is replaced by process + clients in the
same slot (`workload/clients.py`), so a client is `process % clients`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def op_slots(ops: pd.DataFrame, clients: int, by: Sequence[str] = ()) -> pd.DataFrame:
    """Each op's slot of client-time: [invoke, the same client's next invoke), the last
    op up to its completion (its invocation when it never completed)."""
    ordered = ops.assign(client=ops["process"] % clients).sort_values([*by, "client", "invoke_time"], kind="stable")
    nxt = ordered.groupby([*by, "client"], sort=False, observed=True)["invoke_time"].shift(-1)
    last_end = ordered["complete_time"].fillna(ordered["invoke_time"])
    return ordered.assign(slot_start=ordered["invoke_time"], slot_end=nxt.fillna(last_end))


def time_weighted_availability(ops: pd.DataFrame, start_ms: float, end_ms: float, clients: int,
                               by: Sequence[str] = ()) -> pd.DataFrame:
    """Columns: *by, client_ms, available_ms, availability_time (NaN without client-time)."""
    slots = op_slots(ops, clients, by)
    overlap = (np.minimum(slots["slot_end"], end_ms) - np.maximum(slots["slot_start"], start_ms)).clip(lower=0)
    frame = slots.assign(client_ms=overlap, available_ms=np.where(slots["type"].eq("ok"), overlap, 0.0))
    if by:
        out = frame.groupby(list(by), observed=True)[["client_ms", "available_ms"]].sum().reset_index()
    else:
        out = pd.DataFrame({"client_ms": [frame["client_ms"].sum()], "available_ms": [frame["available_ms"].sum()]})
    out["availability_time"] = out["available_ms"] / out["client_ms"].where(out["client_ms"] > 0)
    return out


def clients_served(ops: pd.DataFrame, start_ms: float, end_ms: float, clients: int,
                   by: Sequence[str] = ()) -> pd.DataFrame:
    """Columns: *by, clients, served, clients_served (share with an ok op invoked in the window)."""
    window = ops[(ops["invoke_time"] >= start_ms) & (ops["invoke_time"] < end_ms)]
    window = window.assign(client=window["process"] % clients)
    per_client = window.groupby([*by, "client"], observed=True)["type"].agg(lambda t: bool(t.eq("ok").any()))
    per_client = per_client.rename("served").reset_index()
    if by:
        out = per_client.groupby(list(by), observed=True)["served"].agg(clients="size", served="sum").reset_index()
    else:
        out = pd.DataFrame({"clients": [len(per_client)], "served": [int(per_client["served"].sum())]})
    out["clients_served"] = out["served"] / out["clients"]
    return out
