"""Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
USENIX ATC 2014; Ongaro's thesis, Stanford 2014) as a sans-IO core: the CP reference.

What is here, with the sections it follows:
- leader election with randomized timeouts, terms and votes (§5.2), the up-to-date
  check on votes (§5.4.1), PreVote (thesis §9.6) and CheckQuorum (thesis §6.2), and
  the "ignore votes while a leader is alive" rule that both rely on (thesis §4.2.3);
- log replication with the consistency check and fast back-off by conflict term /
  index hints (§5.3), commit only by majority match of an entry of the leader's own
  term (§5.4.2), a no-op of its term appended by every new leader (§8), batching
  (`max_batch` entries per AppendEntries) and pipelining (up to `max_inflight`
  AppendEntries in flight per follower, optimistic nextIndex);
- durable state — term, vote, log, snapshot — written to `self.storage` before any
  message that depends on it leaves (the outbox is only drained after the handler
  returns), and read back by the constructor after a crash (§5.1 Figure 2);
- the KV state machine with duplicate detection by (process, seq) (thesis §6.3);
- reads: through the log, ReadIndex (thesis §6.4), leader leases bounded by the
  election timeout and the clock drift bound (thesis §6.4.1), or served locally by
  any node (`follower`: fast, available, stale — the one mode that is not CP);
- log compaction by snapshot and InstallSnapshot for lagging followers (§7).

Clients sit beside node p mod n and only that node answers them: a follower forwards
a request to the leader it knows, the leader sends the outcome back, and the
follower replies (or replies when it applies the entry itself, whichever comes
first). A node that knows no leader answers `fail` at once — true, since the request
went nowhere; a forwarded command that might still commit is never answered `fail`
(a node that stopped leading passes a forward on once, or drops it: the network may
have duplicated it into some log). Reads answered `fail` when a leader steps down are
true failures too: a read that was not served had no effect.

Pipelining over a network that reorders: a follower keeps an AppendEntries that
arrives ahead of a gap (up to 64) and processes it once the gap fills, rather than
rejecting it and making the leader resend from there; a pipeline that makes no
progress for a heartbeat interval falls back to probing (a lost message).

Hot-path notes: log entries are (term, ClientRequest | None) tuples (None = no-op);
the election timer is re-armed lazily (a follower does not touch its timer for every
AppendEntries, see `_on_election_timer`), and per-peer leader state lives in flat
lists indexed by node id.

Modules, split by data structure as etcd splits raft.go from log.go,
tracker/progress.go and read_only.go: `node` (inputs, roles, elections, clients,
apply), `log` (the log, snapshot and the follower's side of replication), `progress`
(the leader's per-follower state and replication), `read_only` (ReadIndex and
leases), `messages`, `options`, `invariants` (the safety checker). The data-structure
modules are mixins of `RaftNode`, so their fields sit on the node and a message costs
no extra attribute hop (DESIGN.md, "Protocol cores: package layout").
"""

from workbench.protocols.common.roles import CANDIDATE, FOLLOWER, LEADER, PRE_CANDIDATE, Role
from workbench.protocols.raft.invariants import RaftInvariants
from workbench.protocols.raft.messages import (
    AppendEntries,
    AppendReply,
    Entry,
    Forward,
    ForwardBatch,
    ForwardReplies,
    ForwardReply,
    InstallSnapshot,
    PreVote,
    PreVoteReply,
    RequestVote,
    SnapshotReply,
    VoteReply,
)
from workbench.protocols.raft.node import ROLE_NAMES, RaftNode
from workbench.protocols.raft.options import RaftOptions

__all__ = [
    "CANDIDATE", "FOLLOWER", "LEADER", "PRE_CANDIDATE", "ROLE_NAMES",
    "AppendEntries", "AppendReply", "Entry", "Forward", "ForwardBatch", "ForwardReplies", "ForwardReply", "InstallSnapshot",
    "PreVote", "PreVoteReply", "RaftInvariants", "RaftNode", "RaftOptions", "RequestVote",
    "Role", "SnapshotReply", "VoteReply",
]
