"""How `workbench explore` finds each planted bug of the mutation catalogue (issue 13).

One recipe per Raft and Paxos mutant of `workbench.mutants`: the scope (clients, ops,
fault budgets, latency), the mode (breadth-first, or schedule-bounded with at most K
deviations from the default order) and the budget. `python -m workbench.explore.recipes`
runs them all and prints the table that docs/DESIGN.md quotes (states or runs, CPU
seconds, counterexample length); tests/test_explore_mutants.py runs the cheap ones in
`make test` and the rest under `@pytest.mark.slow`.

Budgets are counted in states or runs, never in seconds, so a finding does not depend
on how busy the machine is.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from workbench.explore.bfs import Result, explore
from workbench.explore.bounded import BoundedResult, explore_bounded
from workbench.explore.model import Scope
from workbench.mutants import find_mutant


@dataclass(frozen=True)
class Recipe:
    mutant: str
    scope: dict[str, Any]
    """`Scope` fields besides the protocol and the mutant's options."""
    max_depth: int
    """Breadth-first: transitions from the initial state; bounded: steps per run."""
    bounded: int | None = None
    """K for schedule-bounded mode; None: breadth-first."""
    budget: int = 100_000
    """Most distinct states (breadth-first) or runs (bounded) before giving up."""
    options: dict[str, str] = field(default_factory=dict)
    """Protocol options on top of the mutant's own."""
    seeds_to_catch: str = ""
    """How many random seeds `workbench search` needed for the same mutant."""
    prefix: str = ""
    """Directives (`;`-separated) run before exploring: a scenario opening."""
    clients_last: bool = False
    """Bounded mode: client ops only as deviations (`bounded.CLIENTS_LAST`)."""
    sample: int = 0
    """Bounded mode: after `budget` enumerated runs, this many runs with sampled
    deviations (seed 0, so a finding reproduces)."""
    window: int | None = None
    """Bounded mode: all deviations within this many consecutive steps (a fault burst)."""

    def make_scope(self) -> Scope:
        found = find_mutant(self.mutant)
        options = {k: str(v) for k, v in found.options.items()} | self.options
        opening = tuple((d.split()[0], tuple(d.split()[1:])) for d in self.prefix.split(";") if d.strip())
        return Scope(found.protocol, options=options, prefix=opening, **self.scope)

    def describe(self) -> str:
        s = self.scope
        faults = ",".join(f"{name}={s[key]}" for key, name in
                          (("crashes", "crash"), ("cuts", "cut"), ("drops", "drop"), ("pauses", "pause"))
                          if s.get(key))
        if s.get("crash_points"):
            faults += f" at {'/'.join(s['crash_points'])}"
        last = ", clients last" if self.clients_last else ""
        last += f", within {self.window} steps" if self.window else ""
        mode = f"bounded K={self.bounded}{last}, {self.max_depth} steps" if self.bounded is not None \
            else f"BFS depth {self.max_depth}"
        extra = "".join(f", {k}={v}" for k, v in s.items()
                        if k not in ("clients", "ops", "crashes", "cuts", "drops", "pauses", "crash_points"))
        opening = f"; from `{self.prefix}`" if self.prefix else ""
        return (f"3 nodes, {s.get('clients', 2)} clients x {s.get('ops', 2)} ops"
                f"{', ' + faults if faults else ''}{extra}; {mode}{opening}")

    def run(self) -> Result | BoundedResult:
        scope = self.make_scope()
        if self.bounded is None:
            return explore(scope, max_depth=self.max_depth, max_states=self.budget)
        return explore_bounded(scope, k=self.bounded, max_steps=self.max_depth, budget_runs=self.budget,
                               sample_runs=self.sample, clients_last=self.clients_last, window=self.window)


_CRASH = {"clients": 2, "ops": 2, "crashes": 1}
# Fast elections (the catalogue's FAST_ELECTIONS): the seeded timers make node 0 lead
# term 2 after this opening, with x=1 committed on all three nodes.
RAFT_STABLE = "advance 75;stabilize;advance 57;stabilize;client 0 write x 1;stabilize"
# Default timeouts: the opening of tests/scenarios/raft_lease_vote_after_term_adoption.txt
# (node 0 leads term 1, x=1 committed everywhere, leases held).
RAFT_STABLE_DEFAULT = "advance 150;timer 0 election;stabilize;client 0 write x 1;stabilize"
# The stale lease read's opening (tests/scenarios/raft_lease_vote_after_term_adoption.txt):
# the stable leader 0 is cut from node 2 and paused before its next heartbeat; time runs
# to 300 ms (nodes 1 and 2 re-arm their election timers for 344.6 and 379.9 ms).
RAFT_LEASE_PAUSED = RAFT_STABLE_DEFAULT + ";cut 0 2;pause 0;advance 50;advance 100"
# Figure 8 (§5.4.2) at 3 nodes, the scenario's first half as an opening (fast elections,
# max_batch 1, max_inflight 1). (a) Node 0 wins term 2 and is cut off at once: its
# no-op (index 1) and a write (index 2) stay on node 0 alone, old-term entries on a
# minority. (b) Node 1 wins term 4 with node 2's vote; its own no-op (index 1, term 4)
# is dropped on the way to node 2 and node 1 crashes; then the cut heals. From here
# the search must find (c)-(d): node 0 wins term 5 with node 2's vote and replicates
# index 1 to node 2 -- counting those replicas commits an old-term entry -- and then
# a burst of three faults (cut 0-2 before index 2 lands, crash 0, restart 1) lets node
# 1 win term 6 with node 2's vote and a log that lacks the committed entry. Why two
# old-term entries: a follower holds back an AppendEntries past a gap and applies it
# the moment the gap fills, so with one old entry node 2 receives node 0's term-5
# no-op in the same step as the old entry and can no longer vote for node 1.
RAFT_FIGURE8 = ("advance 75;stabilize;advance 57;deliver #25;deliver #26;deliver #27;deliver #28;"
                "deliver #29;deliver #30;deliver #31;cut 0 1;cut 0 2;stabilize;client 0 write x 1;"
                "advance 60;stabilize;advance 68.3;deliver #56;deliver #57;deliver #59;deliver #60;"
                "drop #62;crash 1;heal")
# §7: node 0, the term-2 leader of RAFT_STABLE, takes a forwarded write (index 3) and
# one of its own (index 4) and is cut off before either leaves: a conflicting suffix
# of two entries. The search elects a new leader, commits on it (a snapshot per applied
# entry) and heals, so node 0 gets an InstallSnapshot at an index inside its suffix.
RAFT_SUFFIX = RAFT_STABLE + ";client 1 write x 12;deliver #41;cut 0 1;cut 0 2;client 0 write x 3;stabilize"
# §7, an install that keeps a log suffix (the one the three-record write can corrupt):
# node 0 (RAFT_STABLE's leader) pipelines two writes; node 2 appends both (indices 3-4)
# but its acks are lost over a cut, while node 1's commit them and node 0 snapshots at
# index 3 (a snapshot per applied entry, taken at the next apply). Its pipeline to node
# 2 stalled for a heartbeat, node 0 probes from node 2's match (2), below its snapshot;
# once the cut heals, its next round sends InstallSnapshot(3, term 2), and node 2,
# holding index 4 of the same term, keeps it behind the snapshot.
RAFT_STALLED = (RAFT_STABLE + ";client 0 write x 3;client 1 write x 12;deliver #43;deliver #41;"
                "deliver #42;deliver #44;deliver #45;cut 0 2")
# Batched proposals (raft.propose_batch_ms 0; each `advance 0` fires a batch timer):
# node 0 leads term 1 with x=1 committed, is cut from both followers and keeps leading
# (CheckQuorum off); node 1 wins term 2 with node 2's vote and commits x=11, acked to
# client 1; a millisecond passes, so a later read is strictly after that write.
RAFT_BATCH_ISOLATED = ("advance 150;timer 0 election;stabilize;client 0 write x 1;advance 0;stabilize;"
                       "cut 0 1;cut 0 2;advance 150;timer 1 election;stabilize;"
                       "client 1 write x 11;advance 0;stabilize;advance 1")
# Paxos, fast elections: node 2 leads after this opening, x=1 decided everywhere.
PAXOS_STABLE = "advance 75;stabilize;client 0 write x 1;stabilize"
# ... and then cut off from both followers (client 2 sits at the old leader).
PAXOS_ISOLATED = PAXOS_STABLE + ";cut 2 0;cut 2 1"
# The opening of tests/scenarios/paxos_long_lease_stale_read.txt (default timeouts, an
# election timeout span of 150-1000 ms): node 2 leads with a lease, x=1 and x=21
# decided everywhere, then node 2 is cut from both followers.
PAXOS_LEASE_ISOLATED = ("advance 320;stabilize;client 0 write x 1;stabilize;client 2 write x 21;stabilize;"
                        "advance 60;stabilize;cut 2 0;cut 2 1")
# Fast elections for a mutant whose catalogue entry keeps the default timeouts.
_FAST_PAXOS = {"election_timeout_min_ms": "50", "election_timeout_max_ms": "75", "heartbeat_ms": "15"}
# silent_compaction's opening at seed 3 (node 0's timer is first, so node 0 leads); see its recipe.
PAXOS_COMPACTED_ELECTION = (
    "advance 57;stabilize;client 0 write x 1;stabilize;cut 0 2;client 1 write x 11;deliver 1->0;deliver 0->1;"
    "deliver 1->0;crash 0;stabilize;restart 0;heal;advance 30;advance 30;advance 30;deliver PreVote;"
    "deliver PreVoteReply;deliver Prepare;deliver 0->2 Promise")
PAXOS_LEASE_TIMEOUTS = {"election_timeout_min_ms": "150", "election_timeout_max_ms": "1000", "heartbeat_ms": "50"}

# Stateright's Paxos example (examples/paxos.rs, `can_model_paxos`: 3 servers, 2 clients
# each doing one put then one get, an unordered non-duplicating network, no failures, no
# timers; 16,668 unique states, checked exhaustively) at our nearest scope: single-decree
# Paxos (phase 1 and phase 2 for every slot, PMS §2.2), 2 clients x (write, read), any
# delivery order (`fifo=False`), no faults. Ours has timers and a leader election, which
# Stateright's has not (its servers start a ballot per Put), so the opening elects node 2
# (its seeded election deadline at seed 0 is 172.66 ms) and the horizon then stops the
# clock: no heartbeat, retransmission or election timer fires while exploring, as none
# exists in Stateright's model. Reads are served by the leader's lease (`leases: true`,
# held from the election's heartbeat round), as a decided Stateright server answers a
# Get locally; without leases each read is a full Synod instance too.
STATERIGHT_PAXOS = Scope("paxos", clients=2, ops=2, options={"single_decree": "true", "leases": "true"},
                         fifo=False, horizon_ms=173.0,
                         prefix=(("advance", ("172.66185371662527",)), ("stabilize", ())))

RECIPES: tuple[Recipe, ...] = (
    Recipe("raft:vote_not_persisted", {"clients": 1, "ops": 0, "crashes": 1}, max_depth=9,
           seeds_to_catch="7 (first caught at seed 6)"),
    Recipe("paxos:skip_phase1", _CRASH, max_depth=50, bounded=2, budget=2000,
           seeds_to_catch="1 (caught at seed 0)"),
    # The leader cut from node 2 commits with node 1 alone; node 1 crashes and comes
    # back without the entry (it acked before persisting), and node 2 wins term 3.
    Recipe("raft:log_not_persisted", {"clients": 2, "ops": 3, "crashes": 2, "cuts": 1}, max_depth=40,
           bounded=3, budget=5000, prefix=RAFT_STABLE + ";cut 0 2",
           seeds_to_catch="1 (caught at seed 0; composed + disk model)"),
    # The leader cut from node 0 gets slot 1 chosen with node 1's ack alone; node 1
    # crashes and forgets it (acked before persisting), so a later phase 1 misses it.
    Recipe("paxos:accept_not_persisted", {"clients": 2, "ops": 3, "crashes": 2, "cuts": 1}, max_depth=40,
           bounded=3, budget=7000, prefix=PAXOS_STABLE + ";cut 2 0", seeds_to_catch="3 (first caught at seed 2)"),
    # Stale reads: the leader is cut off from both followers; nodes 1 and 2 elect a
    # new leader and commit x=11 (a deviation invokes the write), then a late read at
    # the old leader returns x=1. Correct ReadIndex (a heartbeat round first) and a
    # correct lease (shorter than an election timeout) are not fooled (measured with
    # the same budget, `bug=none`).
    Recipe("raft:read_index_no_confirm", {"clients": 2, "ops": 3, "cuts": 2}, max_depth=40, bounded=2,
           budget=5000, clients_last=True, prefix=RAFT_STABLE_DEFAULT + ";cut 0 1;cut 0 2",
           seeds_to_catch="4 / 1 / 8 from starts 0 / 1000 / 2000 (composed, leader stalls)"),
    # Two clients at the isolated old leader (process 3 sits at node 0): a read and a
    # write in one batch, and the bug answers the read from node 0's stale state.
    Recipe("raft:batch_reads_ride_writes", {"clients": 4, "ops": 2, "cuts": 2}, max_depth=40, bounded=2,
           budget=3000, clients_last=True, prefix=RAFT_BATCH_ISOLATED,
           seeds_to_catch="6 / 1 / 1 from starts 0 / 1000 / 2000 (composed, leader stalls)"),
    Recipe("raft:long_lease", {"clients": 2, "ops": 3, "cuts": 2}, max_depth=40, bounded=2,
           budget=5000, clients_last=True, prefix=RAFT_STABLE_DEFAULT + ";cut 0 1;cut 0 2",
           seeds_to_catch="2 / 5 / 1 from starts 0 / 1000 / 2000 (composed, leader stalls)"),
    # Figure 8's second half from RAFT_FIGURE8: 21 default steps (node 0's election and
    # back-off), then the three-fault burst; the window lets enumeration reach it.
    Recipe("raft:commit_old_term", {"clients": 1, "ops": 1, "crashes": 2, "cuts": 3, "drops": 1},
           max_depth=45, bounded=3, window=3, budget=5000, prefix=RAFT_FIGURE8,
           seeds_to_catch="19 (figure8 generator, first caught at seed 18)"),
    # A client op on the new leader (a deviation: clients last) commits a second entry,
    # so the leader snapshots at index 3, inside node 0's suffix (3, 4); a heal sends it.
    Recipe("raft:snapshot_no_truncate", {"clients": 3, "ops": 1, "cuts": 2}, max_depth=40, bounded=2,
           budget=2000, clients_last=True, options={"snapshot_threshold": "1"}, prefix=RAFT_SUFFIX,
           seeds_to_catch="11 (first caught at seed 10)"),
    # The search heals the cut, arms a crash inside node 2's next step that writes
    # `snapshot`, keeping 1 or 2 of its records (crash points, scenario/crash_points.py),
    # and restarts it: with log_base and log durable and the snapshot not, the kept entry
    # comes back at index 1 (log matching). The correct install is one atomic record.
    # The shortest burst spans 7 steps (window 5: nothing in all 10,937 schedules).
    Recipe("raft:snapshot_order_reversed",
           {"clients": 2, "ops": 1, "crashes": 1, "cuts": 1, "crash_points": ("mid_persist",),
            "crash_keep": (1, 2), "crash_record": "snapshot"},
           max_depth=40, bounded=3, window=7, budget=8000, prefix=RAFT_STALLED,
           seeds_to_catch="2 (first caught at seed 1; composed + spinning disk, mid_persist points)"),
    # Checkpoint after every slot (threshold 1). The opening (seed 3: node 0 leads): node 0,
    # cut from node 2, gets x=11 chosen in slot 1 with node 1's ack alone, applies and
    # compacts it, and crashes before telling anyone; it restarts, the cut heals, and the
    # lagging node 2 wins the election with node 0's promise — which, under the bug,
    # leaves out the checkpoint, so slot 1 looks free. Breadth-first then finds the
    # race: a new command chosen in slot 1 (node 1 accepts the higher ballot) before
    # node 0's Checkpoint reaches node 2. Needs any delivery order (`fifo=False`).
    # (Until the package split a K=3 recipe found it from PAXOS_STABLE + `cut 2 0`;
    # after it, nothing in 14,000 runs: four deviations are needed, see DESIGN.md.)
    Recipe("paxos:silent_compaction", {"clients": 2, "ops": 2, "crashes": 1, "cuts": 1, "seed": 3, "fifo": False},
           max_depth=8, budget=20_000, options=_FAST_PAXOS, prefix=PAXOS_COMPACTED_ELECTION,
           seeds_to_catch="9 (first caught at seed 8)"),
    # The old leader, cut off, keeps retransmitting its Accept for client 2's write;
    # nodes 0 and 1 elect a new ballot, the cut heals and node 0 takes the stale Accept.
    # (From the initial state, bounded K=2, it was found in 1,818 runs before main split
    # the Paxos core into a package, and not in 8,000 + 4,000 sampled after.)
    Recipe("paxos:accept_below_promise", {"clients": 3, "ops": 2, "cuts": 2}, max_depth=50, bounded=3,
           budget=2000, prefix=PAXOS_ISOLATED, seeds_to_catch="4 (first caught at seed 3)"),
    # Nodes 0 and 1 time out under the cut and both run for ballot round 2; node 1's
    # promise to itself, (2, 1), was never persisted: it crashes, restarts and promises
    # node 0's lower (2, 0) — two deviations (the crash and the restart).
    Recipe("paxos:forget_promise", {"clients": 1, "ops": 0, "crashes": 1, "cuts": 2}, max_depth=50, bounded=2,
           budget=3000, prefix=PAXOS_ISOLATED + ";advance 60",
           seeds_to_catch="1 (caught at seed 0, under the disk model)"),
    # A chosen slot the followers do not yet know is decided: the leader crashes and the
    # new leader's recovery refills it with a no-op (one deviation: the crash).
    Recipe("paxos:slot_ignores_accepted", {"clients": 2, "ops": 2, "crashes": 1}, max_depth=40, bounded=1,
           budget=500, prefix=PAXOS_STABLE, seeds_to_catch="1 (caught at seed 0)"),
    # The scripted stale lease read, searched: the isolated leader keeps its 10x lease
    # while nodes 0 and 1 elect; a deviation writes x=11 there, another reads at node 2.
    Recipe("paxos:long_lease", {"clients": 3, "ops": 2, "cuts": 2}, max_depth=60, bounded=2, budget=2000,
           clients_last=True, options=PAXOS_LEASE_TIMEOUTS, prefix=PAXOS_LEASE_ISOLATED,
           seeds_to_catch="6 / 6 / 6 from starts 0 / 1000 / 2000 (composed, leader stalls, timeouts 150-600 ms; before the lease-read rule 0 of 30-40)"),
    # The stale lease read at 3 nodes (issue 13 Must show): from RAFT_LEASE_PAUSED the
    # search has both election timers fire, node 1 grant node 2's pre-vote, node 0
    # resume and renew its lease with node 1's ack, node 1 adopt term 2 from node 2's
    # rejecting PreVoteReply (to node 1's own, reordered pre-vote) and then grant node
    # 2's RequestVote of that term: node 2 leads while node 0's lease runs
    # (`lease_check`). Unordered links (the pre-vote overtakes) and a 50 ms latency bound
    # (node 1's pre-vote waits out node 2's timer, 35 ms later). bug=none: nothing.
    Recipe("raft:lease_vote_by_term",
           {"clients": 0, "ops": 0, "fifo": False, "max_latency_ms": 50.0, "horizon_ms": 400.0, "lease_check": True},
           max_depth=11, budget=150_000, prefix=RAFT_LEASE_PAUSED,
           seeds_to_catch="1 / 1 / 1 from starts 0 / 1000 / 2000 (composed, vote races)"),
    # Crash points (issue 13 item 3): node 1 armed `at=after_send` dies inside its next
    # Accept: the mutant's Accepted is already out, its write is lost. The leader cut
    # from node 0 gets the slot chosen on that ack; after node 1's restart a new phase 1
    # misses it. The correct acceptor (write before ack): nothing in 7,000 runs.
    Recipe("paxos:accept_ack_before_persist",
           {"clients": 2, "ops": 3, "crashes": 2, "cuts": 1, "crash_points": ("after_send",)}, max_depth=40,
           bounded=3, budget=7000, prefix=PAXOS_STABLE + ";cut 2 0", seeds_to_catch="16 (first caught at seed 15)"),
)

BY_MUTANT = {r.mutant: r for r in RECIPES}


def row(recipe: Recipe, result: Result | BoundedResult) -> str:
    """One markdown table row: mutant, scope, states/runs, CPU seconds, counterexample length."""
    if isinstance(result, Result):
        work = f"{result.distinct} states"
    else:
        work = f"{result.runs} runs ({result.steps} steps)"
    found = f"{len(result.trace)} steps" if result.violation else "not found"
    return (f"| {recipe.mutant} | {recipe.describe()} | {work} | {result.cpu_seconds:.1f} | {found} | "
            f"{recipe.seeds_to_catch or 'not measured'} |")


def main(argv: list[str] | None = None) -> None:
    names = (argv if argv is not None else sys.argv[1:]) or [r.mutant for r in RECIPES]
    print("| mutant | scope | explored | CPU s | counterexample | `workbench search` seeds |")
    print("|---|---|---|---|---|---|")
    for name in names:
        recipe = BY_MUTANT[name]
        print(row(recipe, recipe.run()), flush=True)


if __name__ == "__main__":
    main()
