"""Multi-Paxos safety, checked over a whole run (`sim.invariants: true`).

Nodes append audit records (the kinds below) to `node._audit` once a checker has
attached to them; the checker drains them after every step.
"""

from __future__ import annotations

from typing import Any

from workbench.core.ids import NodeId
from workbench.protocols.paxos.messages import ZERO, Ballot, Value

# Audit records for the invariant checker (only kept while a checker is attached).
AUDIT_PROMISE, AUDIT_ACCEPT, AUDIT_LEARN, AUDIT_CHECKPOINT = range(4)


class PaxosInvariants:
    """Checked after every simulator step (`sim.invariants: true`).

    - At most one value is chosen per slot (PMS §2.1 safety): every value any node
      ever learned for a slot, including nodes that later crashed, must agree.
    - No acceptor accepts below its promise (PMS §2.2, P1a), nor promises below a
      ballot it promised before — judged against every promise the acceptor ever
      made, across restarts, since promises must be durable.
    - Checkpoints (log compaction): all checkpoints of one slot, made or installed
      by any node, hold the same state (state machine safety, compared by digest),
      and a node's checkpoint never moves back, across restarts (it is durable).

    Compaction cannot trip the first check by forgetting: a node never learns a slot
    below its applied point again, and installing a checkpoint learns nothing per
    slot. It lets the checker forget too: a node only learns slots at or above its
    durable checkpoint, so values chosen below every node's checkpoint can never be
    compared again and are dropped (the checker stays bounded in long runs).

    Nodes record audit entries only once a checker attaches to them, so runs without
    invariant checks pay nothing.
    """

    def __init__(self) -> None:
        self.chosen: dict[int, Value] = {}
        self.max_promise: dict[NodeId, Ballot] = {}
        self.checkpoint_digest: dict[int, int] = {}
        self.max_checkpoint: dict[NodeId, int] = {}
        self._forgotten = 0  # `chosen` and `checkpoint_digest` hold no slot below this
        self._checkpointed = False  # a checkpoint record arrived since the last `_forget`
        self._rolled_back: set[NodeId] = set()  # crashed with unsynced writes lost

    @property
    def has_forgotten(self) -> bool:
        """Has `_forget` dropped anything? Then the memory no longer only grows (the
        explorer's sleep sets rely on that: explore/sleep.py)."""
        return self._forgotten > 0

    def lost_writes(self, nid: NodeId) -> None:
        """A crash lost `nid`'s writes whose fsync had not completed (issue 12's disk
        model). Everything behind them — the Promise/Accepted replies — was held and
        died too, so a promise or checkpoint made only in memory was never revealed:
        judge the restarted node from what its storage kept."""
        self._rolled_back.add(nid)

    def check(self, nodes: list[Any], now: float) -> str | None:
        for node in nodes:
            if node is None or not hasattr(type(node), "_audit"):
                continue  # not a node that keeps an audit log (PaxosNode declares `_audit`)
            audit = node._audit
            if audit is None:
                node._audit = []
                if node.id in self._rolled_back:
                    self._rolled_back.discard(node.id)
                    self.max_promise[node.id] = node.promised
                    self.max_checkpoint[node.id] = node.checkpoint_slot
                if node.checkpoint_slot > self.max_checkpoint.get(node.id, 0):
                    # Attached after a restart from a checkpoint it made unobserved.
                    self.max_checkpoint[node.id] = node.checkpoint_slot
                continue
            if not audit:
                continue
            node._audit = []
            problem = self._check_node(node.id, audit)
            if problem:
                return problem
        if self._checkpointed:
            self._forget(len(nodes))
        return None

    def _forget(self, n: int) -> None:
        self._checkpointed = False
        low = min(self.max_checkpoint.get(i, 0) for i in range(n))
        if low - self._forgotten < 256:
            return
        for slot in range(self._forgotten, low):
            self.chosen.pop(slot, None)
            self.checkpoint_digest.pop(slot, None)
        self._forgotten = low

    def _check_node(self, nid: NodeId, audit: list[tuple[Any, ...]]) -> str | None:
        chosen, max_promise, max_checkpoint = self.chosen, self.max_promise, self.max_checkpoint
        for record in audit:
            kind = record[0]
            if kind == AUDIT_LEARN:
                slot, value = record[1], record[2]
                if slot in chosen:
                    if chosen[slot] != value:
                        return (f"two values chosen for slot {slot}: {chosen[slot]!r} and "
                                f"{value!r} (learned by node {nid})")
                else:
                    chosen[slot] = value
            elif kind == AUDIT_CHECKPOINT:
                slot, digest = record[1], record[2]
                previous = max_checkpoint.get(nid, 0)
                if slot < previous:
                    return f"node {nid}'s checkpoint moved back from slot {previous} to {slot}"
                max_checkpoint[nid] = slot
                self._checkpointed = True
                known = self.checkpoint_digest.setdefault(slot, digest)
                if known != digest:
                    return (f"two states checkpointed at slot {slot}: digests {known:x} and "
                            f"{digest:x} (node {nid})")
            elif kind == AUDIT_ACCEPT:
                slot, ballot = record[1], record[2]
                promise = max_promise.get(nid, ZERO)
                if ballot < promise:
                    return (f"node {nid} accepted ballot {ballot} in slot {slot} "
                            f"below its promise {promise}")
            else:
                ballot = record[1]
                promise = max_promise.get(nid, ZERO)
                if ballot < promise:
                    return f"node {nid} promised ballot {ballot} below its earlier promise {promise}"
                max_promise[nid] = ballot
        return None
