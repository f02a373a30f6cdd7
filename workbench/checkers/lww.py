"""Last-writer-wins bookkeeping, checked from a store's trace (issue 20).

A last-writer-wins store is only as good as its versions. From the `apply` records
of the eventual store (`protocols/eventual.py`: a local write's record has `writer`
and `seen`; a merged one has neither; set elements have `set`), count:
- `shared_versions`: writes that reuse a (key, version) another write with a different
  value already has. Replicas then disagree forever about which value the version
  names (the capped HLC counter of issue 20 §2).
- `stamped_below_seen`: local writes whose version is not above every version the
  replica had applied since it last started (any key: the HLC's causality, Kulkarni
  et al. 2014 §3, "e hb f => hlc.e < hlc.f"), or not above the key's stored version
  (across restarts: what last-writer-wins needs so an acknowledged write is not
  reverted by anti-entropy, issue 20 §1).
- `version_regressions`: merges that replaced a key's stored version by an older one.

Every count is 0 for a correct store. Records are read in trace order, which is each
node's own processing order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from workbench.checkers.versions import hashable


def lww_anomalies(trace: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    since_start: dict[Any, int] = {}  # node -> newest version applied since its last (re)start
    stored: dict[tuple[Any, Any], int] = {}  # (node, key) -> stored version (durable)
    values: dict[tuple[Any, int], set[Any]] = {}  # (key, version) -> values written with it
    shared = below = regressions = 0
    for record in trace:
        kind = record.get("kind")
        if kind == "crash":
            since_start.pop(record.get("node"), None)  # the volatile clock is gone
            continue
        if kind != "apply" or record.get("set"):
            continue
        node, key, version = record.get("node"), record.get("key"), int(record["version"])
        current = stored.get((node, key))
        if "writer" in record:
            newest = since_start.get(node)
            if (newest is not None and version <= newest) or (current is not None and version <= current):
                below += 1
            written = values.setdefault((key, version), set())
            value = hashable(record.get("value"))
            if written and value not in written:
                shared += 1
            written.add(value)
        elif current is not None and version < current:
            regressions += 1
        stored[(node, key)] = version
        since_start[node] = max(version, since_start.get(node, version))
    return {"shared_versions": shared, "stamped_below_seen": below,
            "version_regressions": regressions}
