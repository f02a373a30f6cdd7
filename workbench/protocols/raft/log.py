"""The replicated log (Raft §5.3, §7), as etcd keeps it in log.go: entries after a
snapshot point, the snapshot itself, and the follower's side of replication that
changes them (AppendEntries with its consistency check and conflict truncation,
InstallSnapshot, compaction).

`RaftLog` is a mixin of `RaftNode`: its fields live on the node itself, so the hot
follower path reads `self.log` with no extra indirection per message (house rule:
keep the hot paths flat). This module owns those fields; other modules read them.
"""

from __future__ import annotations

from typing import Any

from workbench.core.effects import Send
from workbench.core.ids import NodeId
from workbench.core.storage import Extend, Put, PutMany, Storage
from workbench.protocols.raft.messages import (
    AppendEntries,
    AppendReply,
    Entry,
    InstallSnapshot,
    SnapshotReply,
)
from workbench.protocols.state_machine import KVStateMachine

_HOLD_MAX = 64  # out-of-order AppendEntries a follower keeps for later


class RaftLog:
    """The log, the snapshot before it and the state machine the snapshot restores."""

    log: list[Entry]
    log_start: int
    """Index of the last entry folded into the snapshot; log[0] is index log_start + 1."""
    snap_term: int
    _snap_data: tuple[Any, ...]
    sm: KVStateMachine
    dirty_from: int
    """Lowest log index changed since the invariant checker last looked (it resets it)."""
    _held: dict[int, AppendEntries]  # out-of-order appends, by prev_index

    def _restore_log(self, storage: Storage) -> None:
        """The durable log and snapshot as they survived any crash (§5.1 Figure 2, §7)."""
        snapshot = storage.get("snapshot")
        log: list[Entry] = storage.get("log", [])
        base: int = storage.get("log_base", 0)
        if snapshot is not None:
            snap_index, snap_term, data = snapshot
            self.sm = KVStateMachine.restore(data)
        else:
            snap_index, snap_term, data = 0, 0, KVStateMachine().snapshot()
            self.sm = KVStateMachine()
        if base < snap_index:  # defensive: a snapshot written without its log cut
            log = log[snap_index - base:]
            self.persist(PutMany((("log", list(log)), ("log_base", snap_index))))
        self.log = log
        self.log_start = snap_index
        self.snap_term = snap_term
        self._snap_data = data

    # ------------------------------------------------------------------ queries
    @property
    def last_index(self) -> int:
        return self.log_start + len(self.log)

    def term_at(self, index: int) -> int | None:
        """Term of the entry at `index`; None if compacted away or beyond the log."""
        start = self.log_start
        if index > start:
            pos = index - start - 1
            return self.log[pos][0] if pos < len(self.log) else None
        if index == start:
            return self.snap_term
        return None

    def entry_at(self, index: int) -> Entry | None:
        pos = index - self.log_start - 1
        return self.log[pos] if 0 <= pos < len(self.log) else None

    def _last_term(self) -> int:
        return self.log[-1][0] if self.log else self.snap_term

    def _log_ok(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: the candidate's log is at least as up-to-date as ours."""
        my_term = self._last_term()
        return last_term > my_term or (last_term == my_term and last_index >= self.last_index)

    def _last_index_of_term(self, term: int, upto: int) -> int:
        """Our last index <= upto holding `term` (0 if none); terms never decrease along a log."""
        start = self.log_start
        i = min(upto, start + len(self.log))
        log = self.log
        while i > start and log[i - start - 1][0] > term:
            i -= 1
        if i > start and log[i - start - 1][0] == term:
            return i
        return 0

    # ------------------------------------------------------ follower: replication

    def _release_held(self, src: NodeId, now: float) -> None:
        """Process held-back AppendEntries that the log has now reached, in order."""
        held = self._held
        while held:
            last = self.log_start + len(self.log)
            ready = [prev for prev in held if prev <= last]
            if not ready:
                return
            for prev in sorted(ready):
                m = held.pop(prev)
                if m.term == self.term:  # (src leads: _on_append just made it our leader)
                    self._on_append(src, m, now)

    def _on_append(self, src: NodeId, m: AppendEntries, now: float) -> None:
        if src != self.leader_id and self._held:
            self._held.clear()
        self.leader_id = src
        self._leader_contact = now
        self._last_heard = now
        if self._timer_phase != 1:
            self._arm_election(now)
        start = self.log_start
        log = self.log
        last = start + len(log)
        prev = m.prev_index
        entries = m.entries
        if prev > last:
            # Pipelined sends can overtake each other (the network reorders): keep this
            # one until the gap before it fills. The first message past a gap (and any
            # resend) is still answered, so a probing leader always hears back; later
            # ones wait quietly instead of each making the leader resend from here.
            held = self._held
            quiet = bool(held) and prev not in held
            if m.entries and len(held) < _HOLD_MAX:
                held[prev] = m
            if quiet:
                return
            # §5.3 consistency check fails: our log is too short. Hint: our end.
            self.send(src, AppendReply(self.term, False, last + 1, 0, prev, m.round))
            return
        if prev < start:
            # Entries up to the snapshot are committed, so they match the leader's.
            skip = start - prev
            if skip >= len(entries):
                self.send(src, AppendReply(self.term, True, prev + len(entries), 0, 0, m.round))
                return
            entries = entries[skip:]
            prev = start
        elif (log[prev - start - 1][0] if prev > start else self.snap_term) != m.prev_term:
            # Fast back-off (§5.3, end): the conflicting term and its first index, so
            # the leader skips the whole term in one round trip.
            conflict = log[prev - start - 1][0] if prev > start else self.snap_term
            first = prev
            while first - 1 > start and log[first - start - 2][0] == conflict:
                first -= 1
            self.send(src, AppendReply(self.term, False, first, conflict, prev, m.round))
            return
        count = len(entries)
        if count:
            # BUG `log_not_persisted`: the append stays in memory; the ack below then
            # promises entries a crash loses (storage copies, so nothing else saves them).
            durable = self._bug != "log_not_persisted"
            pos = prev - start
            if pos == len(log):
                log.extend(entries)
                if durable:
                    self._outbox.append(Extend("log", pos, entries))
            else:
                # §5.3: keep entries already present; at the first conflicting term,
                # delete it and all that follow, then append the rest.
                for k in range(count):
                    j = pos + k
                    if j >= len(log):
                        log.extend(entries[k:])
                        if durable:
                            self._outbox.append(Extend("log", j, entries[k:]))
                        break
                    if log[j][0] != entries[k][0]:
                        del log[j:]
                        if start + j + 1 < self.dirty_from:
                            self.dirty_from = start + j + 1
                        log.extend(entries[k:])
                        if durable:
                            self._outbox.append(Extend("log", j, entries[k:]))
                        break
        match = prev + count
        if m.commit > self.commit:
            # Figure 2: commitIndex = min(leaderCommit, index of last new entry).
            commit = m.commit if m.commit < match else match
            if commit > self.commit:
                self.commit = commit
                self._apply()
        self._outbox.append(Send(src, AppendReply(self.term, True, match, 0, 0, m.round)))

    def _on_install_snapshot(self, src: NodeId, m: InstallSnapshot, now: float) -> None:
        self.leader_id = src
        self._leader_contact = now
        self._heard(now)
        if m.index > self.commit:
            # §7: keep the log after the snapshot if it matches there, else drop it all.
            if self.term_at(m.index) == m.snap_term or (
                    self._bug == "snapshot_no_truncate" and m.index <= self.last_index):  # BUG
                self.log = self.log[m.index - self.log_start:]
            else:
                self.log = []
            self.sm = KVStateMachine.restore(m.data)
            self._snap_data = m.data
            self.log_start = m.index
            self.snap_term = m.snap_term
            self.commit = self.applied = m.index
            self.dirty_from = m.index + 1
            # One atomic record: written as three, a crash after `snapshot` but before
            # `log` would keep the old log's entries beside the new snapshot (issue 12).
            if self._bug == "snapshot_order_reversed":  # BUG: three records, snapshot last
                self.persist(Put("log_base", m.index), Put("log", list(self.log)),
                             Put("snapshot", (m.index, m.snap_term, m.data)))
            else:
                self.persist(PutMany((("snapshot", (m.index, m.snap_term, m.data)),
                                      ("log", list(self.log)), ("log_base", m.index))))
            # No `apply` records for the writes the snapshot carries: say it holds them all.
            self.observe("install", version=m.index)
        # Everything up to our commit index matches the leader (state machine safety).
        self.send(src, SnapshotReply(self.term, self.commit, m.round))

    # ---------------------------------------------------------------- compaction

    def _compact(self) -> None:
        index = self.applied
        term = self.term_at(index)
        data = self.sm.snapshot()
        self.log = self.log[index - self.log_start:]
        self.log_start = index
        self.snap_term = term if term is not None else self.snap_term
        self._snap_data = data
        self.persist(PutMany((("snapshot", (index, self.snap_term, data)),
                              ("log", list(self.log)), ("log_base", index))))
