"""The leader's view of each follower (Raft §5.3 nextIndex / matchIndex), as etcd keeps
it in tracker/progress.go, and the replication that it drives: batching (`max_batch`
entries per AppendEntries), pipelining (up to `max_inflight` sends in flight per
follower, nextIndex advanced optimistically), probing after a rejection or a silent
pipeline, fast back-off by the follower's conflict hint (§5.3, end), snapshots for a
follower behind the log's start (§7), and commit by majority match (§5.4.2).

`ReplicationProgress` is a mixin of `RaftNode`: per-peer state is flat lists indexed
by node id on the node itself, so an AppendReply costs no extra indirection.
"""

from __future__ import annotations

from workbench.core.effects import Send
from workbench.core.ids import NodeId
from workbench.core.storage import Extend
from workbench.protocols.common.quorum import kth_largest
from workbench.protocols.raft.messages import AppendEntries, AppendReply, Entry, InstallSnapshot


class ReplicationProgress:
    """Per-follower replication state (a leader's; reset on each election)."""

    _next: list[int]  # §5.3 nextIndex, by node id
    _match: list[int]  # §5.3 matchIndex, by node id (our own slot: our last index)
    _inflight: list[list[int]]  # end index of each AppendEntries with entries in flight
    _probing: list[bool]  # one message at a time until the follower's match is known
    _progressed: list[bool]  # acked anything since the last heartbeat tick

    def _init_progress(self, size: int) -> None:
        self._next = [0] * size
        self._match = [0] * size
        self._inflight = [[] for _ in range(size)]
        self._probing = [True] * size
        self._progressed = [False] * size

    def _reset_progress(self, last: int) -> None:
        """A new leader knows nothing of its followers: probe each from its own end."""
        for p in self.peers:
            self._next[p] = last + 1
            self._match[p] = 0
            self._inflight[p].clear()
            self._probing[p] = True  # find each follower's match first
            self._progressed[p] = False

    def _append(self, entry: Entry) -> int:
        log = self.log
        log.append(entry)
        self._outbox.append(Extend("log", len(log) - 1, (entry,)))  # hot: a one-record persist
        index = self.log_start + len(log)
        self._match[self.id] = index
        return index

    def _send_append(self, p: NodeId) -> None:
        """One AppendEntries to p from nextIndex (up to max_batch entries); while
        replicating, advance nextIndex optimistically (pipelining)."""
        nxt = self._next[p]
        start = self.log_start
        if nxt <= start:
            self._send_snapshot(p)
            return
        log = self.log
        prev = nxt - 1
        end = start + len(log)
        if end > prev + self._max_batch:
            end = prev + self._max_batch
        entries = tuple(log[prev - start:end - start]) if end > prev else ()
        prev_term = log[prev - start - 1][0] if prev > start else self.snap_term
        self._outbox.append(
            Send(p, AppendEntries(self.term, prev, prev_term, entries, self.commit, self._round)))
        if entries and not self._probing[p]:
            self._next[p] = end + 1
            inflight = self._inflight[p]
            if not inflight:
                self._progressed[p] = True  # a fresh pipeline gets a full interval
            inflight.append(end)

    def _send_heartbeat(self, p: NodeId) -> None:
        """An empty AppendEntries at the known match point: it cannot be rejected for
        entries still in flight, and lets the follower commit up to its match."""
        prev = self._match[p]
        if prev < self.log_start:
            prev = self.log_start
        prev_term = self.term_at(prev)
        self.send(p, AppendEntries(self.term, prev, prev_term or 0, (), self.commit, self._round))

    def _send_snapshot(self, p: NodeId) -> None:
        self._probing[p] = True
        self._inflight[p].clear()
        self.send(p, InstallSnapshot(self.term, self.log_start, self.snap_term,
                                     self._snap_data, self._round))

    def _replicate(self, p: NodeId) -> None:
        last = self.log_start + len(self.log)
        inflight = self._inflight[p]
        while not self._probing[p] and self._next[p] <= last and len(inflight) < self._max_inflight:
            self._send_append(p)

    def _broadcast_round(self, now: float, tick: bool) -> None:
        """Start a new round: one AppendEntries (entries if any can go, else a heartbeat)
        to every peer. Acks of a round confirm leadership for ReadIndex and leases."""
        self._round += 1
        if self._lease:
            self._round_sent[self._round] = now
        last = self.log_start + len(self.log)
        for p in self.peers:
            if self._probing[p]:
                self._send_append(p)  # (re)send the probe: it or its answer may be lost
                continue
            inflight = self._inflight[p]
            if tick:
                if inflight and not self._progressed[p]:
                    # Nothing acked for a whole heartbeat interval: assume the pipeline
                    # lost a message and fall back to probing from the match point.
                    self._probing[p] = True
                    self._next[p] = self._match[p] + 1
                    inflight.clear()
                    self._send_append(p)
                    continue
                self._progressed[p] = False
            if self._next[p] <= last and len(inflight) < self._max_inflight:
                self._send_append(p)
            else:
                self._send_heartbeat(p)

    def _on_ack(self, src: NodeId, index: int, now: float) -> None:
        if index > self._match[src]:
            self._match[src] = index
            self._progressed[src] = True
            if index >= self._next[src]:
                self._next[src] = index + 1
            inflight = self._inflight[src]
            while inflight and inflight[0] <= index:
                del inflight[0]
            if index > self.commit:
                self._advance_commit()
        if self._probing[src]:
            # The follower matches up to `index`: replicate optimistically from there.
            self._probing[src] = False
            self._next[src] = self._match[src] + 1
            self._inflight[src].clear()
        self._replicate(src)

    def _on_reject(self, src: NodeId, m: AppendReply) -> None:
        rejected = m.rejected
        if rejected < self._match[src]:
            return  # an answer to an old send; we know better by now
        if self._probing[src] and rejected != self._next[src] - 1:
            return  # a rejection of an earlier (pipelined) send, already handled
        # Fast back-off: skip the follower's whole conflicting term, or to its end.
        nxt = m.index
        if m.hint_term:
            mine = self._last_index_of_term(m.hint_term, rejected)
            if mine:
                nxt = mine + 1
        if nxt > rejected:
            nxt = rejected
        if nxt <= self._match[src]:
            nxt = self._match[src] + 1
        self._next[src] = nxt
        self._probing[src] = True
        self._inflight[src].clear()
        self._send_append(src)

    def _advance_commit(self) -> None:
        # The highest index a majority holds. (Slots of ids that are not members hold 0,
        # below every member's match, so they never change the quorum-th largest.)
        candidate = kth_largest(self._match, self._quorum)
        # §5.4.2: count replicas only for an entry of the current term; earlier
        # entries commit indirectly with it (Figure 8). The bug skips this.
        if candidate > self.commit and (
                self._bug == "commit_old_term" or self.term_at(candidate) == self.term):
            self.commit = candidate
            self._apply()
