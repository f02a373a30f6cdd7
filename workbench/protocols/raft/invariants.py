"""Raft's safety properties (§5.4 Figure 3), checked over a whole run.

The simulator calls `check(nodes, now)` after every step when `sim.invariants` is on
(`RaftNode.invariant_checker()` builds one per run). The checker keeps its own record
across the run — who led which term, which command each (index, term) names, which
command was applied at each index — so a crash that erases a node's memory does not
erase the evidence. Everything is incremental: each step looks only at what changed.

- Election safety: at most one leader per term, across all history.
- Log matching: an (index, term) always names the same command and follows the same
  previous term; by induction, two logs agreeing on an (index, term) agree on the
  whole prefix up to it.
- Leader completeness: a new leader of term T holds every entry committed in a term
  before T. The term an entry was committed in is taken as the term of the first node
  seen applying it — the committing leader, which applies in the same step it commits.
  Entries committed in T or later are not required: a candidate paused mid-election
  can resume, count its old term's votes and lead that term after later terms have
  committed more (Figure 3 asks only for higher-numbered terms).
- State machine safety: no two nodes apply different entries at the same index.
"""

from __future__ import annotations

from typing import Any

from workbench.protocols.common.roles import LEADER


class RaftInvariants:
    __slots__ = ("leaders", "named", "applied", "applied_seen", "max_applied")

    def __init__(self) -> None:
        self.leaders: dict[int, int] = {}  # term -> the node that led it
        self.named: dict[tuple[int, int], tuple[Any, int]] = {}  # (index, term) -> (command, prev term)
        # index -> (the (term, command) entry first applied there, the term of the node
        # first seen applying it: the term it was committed in)
        self.applied: dict[int, tuple[Any, int]] = {}
        self.applied_seen: dict[int, int] = {}  # node id -> highest index checked as applied
        self.max_applied = 0

    def check(self, nodes: list[Any], now: float) -> str | None:
        # Fast path first: most steps change one node, and most changes are none of
        # "a leader we have not recorded", "log entries not yet seen", "new applies".
        leaders, seen = self.leaders, self.applied_seen
        for node in nodes:
            if node is None:
                continue
            if (node.dirty_from <= node.log_start + len(node.log)
                    or node.applied != seen.get(node.id)
                    or (node.role == LEADER and leaders.get(node.term) != node.id)):
                problem = self._check_node(node)
                if problem:
                    return problem
        return None

    def _check_node(self, node: Any) -> str | None:
        nid = node.id
        if node.role == LEADER:
            term = node.term
            first = self.leaders.get(term)
            if first is None:
                self.leaders[term] = nid
                problem = self._leader_completeness(node)
                if problem:
                    return problem
            elif first != nid:
                return f"election safety: nodes {first} and {nid} both led term {term}"
        start = node.log_start
        last = start + len(node.log)
        dirty = node.dirty_from
        if dirty <= start:
            dirty = start + 1
        if dirty <= last:
            problem = self._log_matching(node, dirty, last)
            if problem:
                return problem
        node.dirty_from = last + 1
        applied = node.applied
        seen = self.applied_seen.get(nid, 0)
        if applied < seen:
            seen = applied  # restarted from its snapshot: it applies these again
        if applied > seen:
            problem = self._state_machine_safety(node, max(seen, start) + 1, applied)
            if problem:
                return problem
        self.applied_seen[nid] = applied
        return None

    def _log_matching(self, node: Any, first: int, last: int) -> str | None:
        log, start, named = node.log, node.log_start, self.named
        prev_term = log[first - start - 2][0] if first - 1 > start else node.snap_term
        for index in range(first, last + 1):
            entry = log[index - start - 1]
            term, command = entry
            known = named.get((index, term))
            if known is None:
                named[(index, term)] = (command, prev_term)
            elif (known[0] is not command and known[0] != command) or known[1] != prev_term:
                return (f"log matching: node {node.id} has ({index}, term {term}) = {command!r} "
                        f"after term {prev_term}; seen before as {known[0]!r} after term {known[1]}")
            prev_term = term
        return None

    def _state_machine_safety(self, node: Any, first: int, last: int) -> str | None:
        log, start, applied = node.log, node.log_start, self.applied
        for index in range(first, last + 1):
            pos = index - start - 1
            if pos < 0 or pos >= len(log):
                continue  # folded into a snapshot: its log entry is gone
            entry = log[pos]
            known = applied.get(index)
            if known is None:
                applied[index] = (entry, node.term)
            elif known[0] is not entry and known[0] != entry:
                return (f"state machine safety: node {node.id} applied {entry!r} at index {index}, "
                        f"another node applied {known[0]!r}")
        if last > self.max_applied:
            self.max_applied = last
        return None

    def _leader_completeness(self, node: Any) -> str | None:
        term, applied = node.term, self.applied
        required = self.max_applied  # the last index committed before `term`
        while required > 0 and (known := applied.get(required)) is not None and known[1] >= term:
            required -= 1
        start, last = node.log_start, node.log_start + len(node.log)
        if last < required:
            return (f"leader completeness: node {node.id} leads term {term} with log up to "
                    f"{last}, but index {required} was committed in an earlier term")
        log = node.log
        for index in range(start + 1, required + 1):
            known = applied.get(index)
            if known is None or known[1] >= term:
                continue
            entry = log[index - start - 1]
            if known[0] is not entry and known[0] != entry:
                return (f"leader completeness: node {node.id} leads term {term} with "
                        f"{entry!r} at index {index}, but {known[0]!r} was committed there "
                        f"in term {known[1]}")
        return None
