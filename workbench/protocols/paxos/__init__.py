"""Multi-Paxos: the second CP protocol, a sans-IO core beside Raft.

Every node plays all three roles of Lamport's "Paxos Made Simple" (PMS): proposer,
acceptor and learner. The structure follows van Renesse & Altinbuken, "Paxos Made
Moderately Complex" (PMMC): a leader runs phase 1 once for every open slot (PMMC's
scout; PMS §3 "phase 1 for infinitely many instances") and then phase 2 per slot
(PMMC's commander) for as long as it keeps its ballot.

- Ballots are (round, node id) tuples, so two proposers never share one (PMS §2.5).
- Phase 1: a new leader sends `Prepare(ballot, first_slot)`; each `Promise` carries the
  acceptor's accepted (ballot, value) — and values it already knows decided — for
  slots >= the leader's first unchosen slot. Per slot the leader re-proposes the
  value of the highest ballot (PMS §2.2 P2c), and fills gaps with no-ops (PMS §3).
- Phase 2: `Accept(ballot, slot, value)` / `Accepted`; the leader learns a value once a
  majority accepted it (PMS §2.3) and tells the others with `commit`, "every slot
  below this is decided", piggybacked on its next Accept or heartbeat. A follower
  that accepted a slot under the same ballot then knows the value; one that missed
  it is sent the decided values (`Decisions`) when its acks show it lagging.
- Learners apply decided slots in slot order to the shared `KVStateMachine`, whose
  (process, seq) sessions make a command chosen in two slots take effect once.
- Leader election: a randomized election timeout, then a pre-vote round (as in
  Raft §9.6: an isolated node must not inflate its ballot and depose a healthy
  leader on return), then phase 1. A leader keeps its role with heartbeats and steps
  down when no majority acked it within an election timeout (a failure detector,
  PMMC's "leader failure" discussion). Acceptors refuse to help a new candidate while
  they hear from a live leader, which keeps leadership stable and makes leases safe.
- Durable state (PMS §2.5; PMMC §3 "keeping state on disk"): the promised ballot,
  accepted (ballot, value) per slot and the decided values, written to `storage`
  before any reply that depends on them. A restarted node rebuilds its state machine
  from its checkpoint and the decided values after it.
- Log compaction (Chandra, Griesemer & Redstone, "Paxos Made Live" §5.5 snapshots;
  PMMC §3 on garbage collection; Raft §7 is the same idea): once `snapshot_threshold`
  slots were applied since the last checkpoint, a replica writes a checkpoint —
  (first slot not covered, `KVStateMachine.snapshot()`) — to storage and forgets every
  per-slot record below it: accepted (ballot, value), decided values, in memory and
  in storage. Whoever asks for a slot below a replica's checkpoint — a lagging
  follower's catch-up, a new leader's `Prepare`, a stale or slow leader's `Accept`,
  a single-decree `SlotPrepare` — gets the `Checkpoint` instead (in a `Promise`, it
  rides inside the promise), and installs it only if it is ahead of its own applied
  point. Why forgetting chosen slots is safe: see `_compact`.
- Clients: as with Raft, a request reaches the node its client sits beside; that node
  forwards it to the leader it knows, and the leader sends the result back to it
  (`Result`). A request is answered `fail` only when it was never handed to any
  leader, since anything forwarded might still be chosen: a node that knows no leader
  answers `fail` at once, as Raft's does (the runtimes' request policy, in
  `runtime/driver.py`, answers such requests before the core sees them: fail or hold,
  the same for every protocol; issue 14).
- `leases: true`: the leader answers reads locally while a majority acked a heartbeat
  it sent less than a lease ago (PMMC §3 "read-only commands"; Chubby's master
  lease); the lease is the election timeout shrunk by the clock drift bound. A read
  waits until every decided slot (and every slot phase 1 recovered) is applied, not
  for the leader's own undecided proposals, which no client has seen acknowledged.
- `single_decree: true`: basic (Synod) Paxos per command — the leader runs phase 1 for
  each slot before its phase 2 (PMS §2.2), two round trips per op: the cost
  Multi-Paxos saves (PMS §3).
- `bug`: deliberately broken variants, to prove the fault search can fail.

Modules, split as Lamport splits the roles and by the state each keeps: `node`
(inputs, election timer and pre-vote, the client side), `acceptor` (promised and
accepted, durable), `learner` (decided values, applying, checkpoints), `proposer`
(phase 1 and 2, leader duties, leases), `messages`, `options`, `invariants`. The
role modules are mixins of `PaxosNode`, so their fields sit on the node and a message
costs one table lookup and no extra attribute hop (DESIGN.md, "Protocol cores:
package layout").
"""

from workbench.protocols.common.roles import CANDIDATE, FOLLOWER, LEADER, PRE_CANDIDATE, Role
from workbench.protocols.paxos.invariants import (
    AUDIT_ACCEPT,
    AUDIT_CHECKPOINT,
    AUDIT_LEARN,
    AUDIT_PROMISE,
    PaxosInvariants,
)
from workbench.protocols.paxos.messages import (
    NO_ECHO,
    ZERO,
    Accept,
    Accepted,
    Ack,
    Ballot,
    Checkpoint,
    Command,
    Decisions,
    Entry,
    Forward,
    Heartbeat,
    Nack,
    Prepare,
    PreVote,
    PreVoteReply,
    Promise,
    Result,
    SlotPrepare,
    SlotPromise,
    Value,
)
from workbench.protocols.paxos.node import PaxosNode
from workbench.protocols.paxos.options import PaxosOptions

__all__ = [
    "AUDIT_ACCEPT", "AUDIT_CHECKPOINT", "AUDIT_LEARN", "AUDIT_PROMISE", "CANDIDATE", "FOLLOWER",
    "LEADER", "NO_ECHO", "PRE_CANDIDATE", "ZERO", "Accept", "Accepted", "Ack", "Ballot",
    "Checkpoint", "Command", "Decisions", "Entry", "Forward", "Heartbeat", "Nack", "PaxosInvariants",
    "PaxosNode", "PaxosOptions", "PreVote", "PreVoteReply", "Prepare", "Promise", "Result", "Role",
    "SlotPrepare", "SlotPromise", "Value",
]
