"""The mutation gate's catalogue: planted bugs (`bug=` options) and how to catch each.

A search that never fails proves nothing. Each entry names a deliberately broken
variant of a protocol, the options that turn on the feature it breaks, the scenario
generator that should catch it, and the seed budget `make test` allows: the gate
(tests/test_mutants.py) runs seeds `first_seed, first_seed + 1, ...` and fails unless
one is a finding within `budget`, naming the first catching seed. `make test-slow`
measures every mutant over more seeds and reports the mutation score (caught /
catalogued) and the median seeds-to-catch.

Every protocol feature has at least one mutant: Raft's log path (commit_old_term,
vote_not_persisted, log_not_persisted, lease_vote_by_term), ReadIndex
(read_index_no_confirm), leases (long_lease), snapshots (snapshot_no_truncate);
Paxos phase 1 (skip_phase1, forget_promise), phase 2 (accept_below_promise,
accept_not_persisted), leases (long_lease), compaction (silent_compaction), single
decree (slot_ignores_accepted).

"Not persisted" mutants: durable writes are `Persist` effects and `Storage` holds
copies (issue 12), so these bugs simply leave out the persist (Raft: the follower's
appended entries, votedFor; Paxos: the promised ballot, the accepted value) and keep
the change in memory: the ack still goes out, and a crash really loses the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.errors import UserInputError
from workbench.experiment.config import ExperimentConfig, validate_config
from workbench.fault_search import (
    Finding,
    check_seed,
    composed_scenario,
    default_mix,
    figure8_scenario,
    scenario,
)


@dataclass(frozen=True)
class Mutant:
    name: str
    """Catalogue name, `protocol:bug` unless two protocols share a bug name."""
    protocol: str
    options: dict[str, Any]
    """Protocol options: the `bug` plus the feature it breaks (read mode, leases, ...)."""
    generator: str = "composed"
    """`composed`, `generic` (the old one-fault-at-a-time nemesis) or `figure8`."""
    nodes: int | None = 3
    duration_s: float = 6.0
    first_seed: int = 0
    budget: int = 50
    """Seeds `make test` may run before the mutant counts as missed."""
    why: str = ""
    scripted: str | None = None
    """A scripted scenario (tests/scenarios/, `workbench.scenario`) that catches the
    mutant for sure; when set, `make test` gates on it instead of the random search,
    whose seeds-to-catch `make test-slow` still reports."""
    measured: bool = True
    """False: its budget is a guess not yet measured; `make test-slow` runs its gate, `make
    test` does not (a guess must not turn CI red)."""
    mix: dict[str, Any] = field(default_factory=dict)
    """Composed-nemesis rates that differ from `NemesisMix()`'s for this mutant's scenario."""
    equivalent: str | None = None
    """Why no schedule can make this mutant violate safety (an equivalent mutant, in
    mutation-testing terms). Such a mutant is not counted in the mutation score; the
    gate checks instead that its planted code changes the history of `first_seed`
    (`reaches`), so it is at least exercised."""
    disk: dict[str, Any] | None = None
    """A `faults.disk` model for the scenario (issue 12): bugs that only a disk that
    loses unsynced or torn writes can show."""
    workload: dict[str, Any] = field(default_factory=dict)
    """`workload:` fields that override the generator's draw (e.g. a client timeout short
    enough that clients stuck on a request forwarded to a cut-off leader come back
    while the window the bug needs is still open)."""

    def config(self, seed: int, generator: str | None = None) -> ExperimentConfig:
        """The scenario of `seed` for this mutant, under its generator or another one."""
        config = self._config(seed, generator)
        if self.disk is None and not self.workload:
            return config
        raw = config.model_dump(by_alias=True, exclude_none=True)
        if self.disk is not None:
            raw.setdefault("faults", {})["disk"] = self.disk
        raw["workload"].update(self.workload)
        return validate_config(raw, f"mutant {self.name} seed {seed}")

    def _config(self, seed: int, generator: str | None = None) -> ExperimentConfig:
        gen = generator or self.generator
        if gen == "figure8":
            return figure8_scenario(seed, nodes=self.nodes or 3, options=self.options,
                                    duration_s=self.duration_s)
        if gen == "composed":
            mix = replace(default_mix(self.protocol, self.options), **self.mix)
            return composed_scenario(self.protocol, seed, nodes=self.nodes, duration_s=self.duration_s,
                                     options=self.options, mix=mix)
        return scenario(self.protocol, seed, nodes=self.nodes, duration_s=self.duration_s, options=self.options)

    def configs(self, generator: str | None = None, start: int | None = None) -> Iterator[ExperimentConfig]:
        seed = self.first_seed if start is None else start
        while True:
            yield self.config(seed, generator)
            seed += 1


FAST_ELECTIONS: dict[str, Any] = {"election_timeout_min_ms": 50.0, "election_timeout_max_ms": 75.0,
                                  "heartbeat_ms": 15.0}
"""Short timeouts: three times the elections per second, and the composed nemesis'
delays and pauses (multiples of the election timeout) shrink with them."""


DISK: dict[str, Any] = {"preset": "ssd"}
SPINNING: dict[str, Any] = {"preset": "spinning"}
DISK_MIX: dict[str, Any] = {"crashes": 15.0, "crash_points": 6.0}
"""Issue 12's durability mutants: a disk model, dense crashes and crash points inside a
step (`faults.spec.CrashPoint`), so a write the bug left out (or let an ack overtake)
is lost while its ack is already out."""


QUIET: dict[str, Any] = {"partitions": 0.0, "crashes": 0.0, "cluster_crashes": 0.0, "pauses": 0.0,
                         "clock_changes": 0.0, "delays": 0.0, "duplication": 0.0}
"""Every background process of the composed nemesis off: an aimed mix adds only its own."""

LEASE_STALLS: dict[str, Any] = {**QUIET, "leader_stalls": 0.8, "stall_shapes": ("isolate",)}
"""Issue 11's lease window (`faults.composed._leader_stall`): the leader paused for
2.5-4.5 election timeouts while the others elect and commit, then still cut off for
0.2-1 more, serving its clients' reads from its lease until CheckQuorum deposes it.
Alone, because the default mix's other processes drown it: on Raft `long_lease`, 20
seeds from each of starts 0/1000/2000, stalls on top of the default mix caught 1/0/1,
stalls alone 6/4/3; `isolate` rather than `bridge`, whose connected follower tells the
resumed leader the new term within a round trip."""


def _m(protocol: str, bug: str, why: str, fast: bool = True, **kwargs: Any) -> Mutant:
    options = {"bug": bug, **(FAST_ELECTIONS if fast else {}), **kwargs.pop("options", {})}
    return Mutant(name=f"{protocol}:{bug}", protocol=protocol, options=options, why=why, **kwargs)


CATALOGUE: tuple[Mutant, ...] = (
    _m("raft", "commit_old_term", "§5.4.2 / Figure 8: counts replicas of an old-term entry",
       options={"max_batch": 1, "max_inflight": 1}, generator="figure8", duration_s=5.0, budget=60),
    # Needs a voter to crash and come back inside one election: dense, short crashes.
    _m("raft", "vote_not_persisted", "§5.1: votedFor lost on crash, two votes in one term",
       options={"pre_vote": False, "check_quorum": False}, mix={"crashes": 15.0},
       budget=30),  # measured: first caught at seed 6
    # Lease and ReadIndex mutants keep the default timeouts: measured, short ones hid
    # them (0 of 30 seeds each), default ones did not.
    # Issue 11's hand-found stale lease read as vote races (`faults.composed._vote_race`:
    # each step of the interleaving laid out as faults, on 3 nodes). Random timing never
    # lined it up: 0 of 150 seeds under leader stalls (the leader paused 1-2.2 election
    # timeouts, cut from one follower, some messages 0.1-0.8 late), 0 of 90 under the
    # default and older focused mixes. The workload lets the new leader take a write and
    # the old one serve a read inside the ~150 ms lease: one key (both hit one register),
    # one client per node, no cas; a 300 ms timeout, short enough that the new leader's
    # clients (stuck on requests forwarded to the cut-off leader) are free when it wins,
    # long enough that the old leader's client leaves one or two requests held by the
    # pause (run at the resume, a write among them lengthens the follower's log past
    # the candidate's, and the follower refuses it whatever the lease); mostly reads
    # (a write the isolated old leader takes also sticks its client until the timeout)
    # 30 ms apart. 20 s runs hold ~8 races. Measured: first catch from seeds 0/1000/2000
    # after 1/1/1 seeds; 142 of seeds 0-199, 1000-1199, 2000-2199 catch it (gaps median
    # 2-4, max 21); without the bug, no finding in seeds 0-999.
    _m("raft", "lease_vote_by_term", "thesis §4.2.3: a vote granted at a just-adopted term inside the lease",
       fast=False, options={"read_mode": "lease"}, mix={**QUIET, "vote_races": 1.5}, duration_s=20.0,
       workload={"keys": 1, "clients": 3, "timeout_ms": 300.0, "think_ms": 30.0,
                 "mix": {"read": 0.8, "write": 0.2, "cas": 0.0}},
       budget=30),
    _m("raft", "log_not_persisted", "§5.1: entries acked before they reach storage",
       mix=DISK_MIX, disk=DISK, budget=10),  # measured: seeds 0, 1, 2 each catch (gaps 1, 1, 1)
    # CheckQuorum deposes a cut-off leader before a new one can be elected (§6.2), which
    # hides a missing confirmation round (issue 11: 0 of 40 seeds); ReadIndex must be
    # safe without it, so the mutant runs with it off.
    # The leader stalls catch it 3-4x as often as the default mix (20 seeds from each
    # of 0/1000/2000: 7/6/2 catches, first after 4/1/8 seeds; the default mix: first
    # after 17/2/27): an isolated leader without CheckQuorum serves reads for as long
    # as the cut lasts.
    _m("raft", "read_index_no_confirm", "§6.4: ReadIndex served without its heartbeat round",
       fast=False, options={"read_mode": "read_index", "check_quorum": False}, mix=LEASE_STALLS,
       budget=30),
    # Batched proposals (issue 17): the batch path's own read rule, under the same stalls
    # and without CheckQuorum for the same reason as `read_index_no_confirm`.
    _m("raft", "batch_reads_ride_writes", "§6.4: a batch's reads answered on its writes' unacked AppendEntries",
       fast=False, options={"read_mode": "read_index", "check_quorum": False, "propose_batch_ms": 0.0},
       mix=LEASE_STALLS, budget=30),
    # The default mix caught it from seed 0 (after 8) but not in 40 seeds from 1000 or
    # 2000; the aimed stalls do (docs/mutants.md).
    _m("raft", "long_lease", "§6.4.1: a lease 10x the minimum election timeout",
       fast=False, options={"read_mode": "lease"}, mix=LEASE_STALLS, budget=30),
    _m("raft", "snapshot_no_truncate", "§7: InstallSnapshot keeps a conflicting log suffix",
       options={"snapshot_threshold": 5}, budget=30),  # measured: first caught at seed 10
    _m("paxos", "skip_phase1", "PMS §2.2: a new leader proposes without phase 1",
       budget=10),  # measured: caught at seed 0
    _m("paxos", "forget_promise", "PMS §2.5: promised ballot not persisted", mix=DISK_MIX, disk=DISK,
       budget=10),  # measured: seeds 0, 1, 2 each catch (gaps 1, 1, 1)
    # Disk-only bugs: without a disk model the persist is durable before anything leaves.
    # The seam is an `after_send` crash point: the acceptor's step runs as usual (its
    # Accepted, sent before the persist, is out) and it dies before the fsync; aimed at
    # any node (leader_p 0: a follower acceptor), with windows long enough to wait for
    # an Accept. Under `DISK_MIX` it was 0 of 40 seeds (no point lands between an ack
    # and its fsync). Measured: first catch from seeds 0/100/200/300 after 16/2/2/12
    # seeds; gaps from seed 1000 median 11, max 56; unmodified Paxos: 0 findings in 1,000.
    _m("paxos", "accept_ack_before_persist", "PMS §2.5: Accepted leaves before the accept's fsync",
       mix={**DISK_MIX, "crash_points": 12.0, "point_weights": (("after_send", 1.0),), "leader_p": 0.0,
            "point_window_et": (3.0, 40.0)},
       disk=SPINNING, budget=30),  # measured: first caught at seed 15
    # Harmful only at one cut: log_base and log durable, the snapshot not, in an install
    # that keeps a log suffix (a follower holding entries past the snapshot, sent it by
    # a leader probing from a stale match after a stall): the restarted log then sits
    # behind the old snapshot, entries at the wrong index. So `mid_persist` points that
    # wait (windows up to 40 election timeouts) for a step writing `snapshot` (an
    # election's term+votes is as many records), few plain crashes (a crash disarms a
    # waiting point), a snapshot per applied entry, and pauses and delay windows that
    # stall the leader's pipeline. Under `DISK_MIX` it was 0 of 40 seeds. Measured: first
    # catch from seeds 0/100/200/300 after 2/30/17/3 seeds; gaps from seed 1000 median
    # 16, max 62; unmodified Raft: 0 findings in 1,000 seeds (0-999).
    _m("raft", "snapshot_order_reversed", "§7: InstallSnapshot writes log_base, log, snapshot as three records",
       options={"snapshot_threshold": 1},
       mix={"crashes": 1.0, "crash_points": 20.0, "point_weights": (("mid_persist", 1.0),),
            "point_record": "snapshot", "point_window_et": (3.0, 40.0), "leader_p": 0.0,
            "delays": 6.0, "pauses": 12.0},
       disk={**SPINNING, "torn_writes": True}, budget=30),  # measured: first caught at seed 1
    # An old leader's Accept reaching an acceptor after a newer Prepare: the composed
    # nemesis' late messages and leader changes. Measured: first caught at seed 3, 17 of 30.
    _m("paxos", "accept_below_promise", "PMS §2.2 phase 2(b): accepts below the promise",
       budget=30),
    # Measured with crashes at 15/s: caught at seed 0, 5 of 40 seeds, gaps up to 20
    # (the default mix: 2 of 40).
    _m("paxos", "accept_not_persisted", "PMS §2.5: Accepted sent before the value is durable",
       mix={"crashes": 15.0}, budget=40),
    # Two things hid it from random search (0 of 30-40 seeds under each of six mixes):
    # CheckQuorum deposes a cut-off leader after election_timeout_max (300 ms), before
    # the others can elect; and lease reads waited behind the leader's own undecided
    # slots, which its clients fill within ms of a cut. Lease reads now wait only for
    # decided slots (`Proposer._lease_read`), and the mutant runs with a 150-600 ms
    # election timeout: the leader stalls (paused 1.5-3 election timeouts, then cut
    # off), the others elect inside its long lease, and a 200 ms client timeout frees
    # the clients stuck on requests forwarded to it. Measured: first catch from seeds
    # 0/1000/2000 after 6/6/6 seeds; the same mix with the old read rule: >50/42/>50.
    _m("paxos", "long_lease", "PMMC §3 leases: a lease 10x the election timeout",
       fast=False, options={"leases": True, "election_timeout_max_ms": 600.0},
       mix={**LEASE_STALLS, "stall_pause_et": (1.5, 3.0)}, workload={"timeout_ms": 200.0},
       budget=30, scripted="tests/scenarios/paxos_long_lease_stale_read.txt"),
    # As tests/test_paxos_search.py measured it: the old generator, a checkpoint after
    # every slot; first caught at seed 8.
    _m("paxos", "silent_compaction", "PML §5.5: compacted slots vanish from phase 1",
       fast=False, generator="generic", nodes=None, options={"snapshot_threshold": 1}, budget=20),
    # A new leader's recovery (PMS §3: phase 1 for every open slot) refills a slot whose
    # highest-ballot accepted value phase 1 reported with a no-op, as if it were a gap:
    # a value a majority accepted (chosen, maybe already acked) is overwritten (PMS §2.2
    # P2c). It was an equivalent mutant while only single_decree's per-slot phase 1
    # ignored the value (the election's full phase 1 had re-proposed everything that may
    # be chosen); the per-slot site still ignores it too. Measured (single_decree, fast
    # elections, composed): first catch from seeds 0/1000/2000 after 1/1/2 seeds; gaps
    # from seed 0: 1, 2, 1, 3, 2 ("two values chosen for slot N: <command> and None").
    _m("paxos", "slot_ignores_accepted", "PMS §2.2 P2c / §3: a new leader refills an accepted slot with a no-op",
       options={"single_decree": True}, budget=10),
)

BY_NAME: dict[str, Mutant] = {m.name: m for m in CATALOGUE}


def find_mutant(name: str) -> Mutant:
    """A catalogued mutant by `protocol:bug` (or a bare bug name when unambiguous)."""
    if name in BY_NAME:
        return BY_NAME[name]
    matches = [m for m in CATALOGUE if m.options["bug"] == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(BY_NAME)
    raise KeyError(f"unknown mutant {name!r}" + (" (ambiguous: say protocol:bug)" if matches else "")
                   + f"; catalogued: {known}")


def mutant_option(name: str, protocol: str) -> Mutant:
    """`--mutant NAME` of a command about `protocol`: the catalogued mutant, or one
    UserInputError line naming what is wrong (shared by `search` and `explore`)."""
    try:
        found = find_mutant(name)
    except KeyError as exc:
        raise UserInputError(f"--mutant: {exc.args[0]}") from None
    if found.protocol != protocol:
        raise UserInputError(f"--mutant {name}: a {found.protocol} mutant, not {protocol}")
    return found


def reaches(mutant: Mutant, seed: int | None = None) -> bool:
    """Whether the mutant's history of `seed` differs from the correct protocol's: the
    planted code ran and changed what clients saw (for an equivalent mutant)."""
    from workbench.runtime.sim import simulate

    at = mutant.first_seed if seed is None else seed
    return simulate(mutant.config(at)).history != simulate(correct(mutant).config(at)).history


def first_catch(mutant: Mutant, limit: int, *, generator: str | None = None,
                start: int | None = None) -> tuple[int, Finding | None]:
    """Run seeds in order until the first finding or `limit` seeds: (seeds run, finding)."""
    count = 0
    for count, config in enumerate(mutant.configs(generator, start), start=1):
        finding = check_seed(config)
        if finding is not None or count >= limit:
            return count, finding
    return count, None


def catches(mutant: Mutant, limit: int, *, wanted: int, generator: str | None = None,
            start: int = 0) -> tuple[list[int], int]:
    """Seeds-to-catch samples over seeds start..start+limit: the gap (in seeds) to each of
    the first `wanted` findings from the previous one. Returns (gaps, seeds run)."""
    gaps: list[int] = []
    last = start - 1
    seed = start
    for seed in range(start, start + limit):
        if check_seed(mutant.config(seed, generator)) is not None:
            gaps.append(seed - last)
            last = seed
            if len(gaps) >= wanted:
                break
    return gaps, seed - start + 1


def correct(mutant: Mutant) -> Mutant:
    """The mutant's scenario with the bug taken out: the unmodified protocol under the
    same generator, mix and options (a mix must not turn up findings on its own)."""
    return replace(mutant, options={k: v for k, v in mutant.options.items() if k != "bug"})


def _clean(args: tuple[str, int]) -> tuple[int, Finding | None]:
    name, seed = args
    return seed, check_seed(correct(BY_NAME[name]).config(seed))


def _measure(args: tuple[str, str, int, int]) -> tuple[str, str, int, int, bool]:
    name, generator, limit, start = args
    count, finding = first_catch(BY_NAME[name], limit, generator=generator, start=start)
    return name, generator, start, count, finding is not None


def main(argv: list[str] | None = None) -> None:
    """Seeds-to-catch per mutant and generator, from several start offsets:
    `python -m workbench.mutants --limit 50 --starts 0,1000,2000`. A start that finds
    nothing within `limit` seeds counts as `limit` (printed `>limit`), so a median or
    max shown with `>` is a lower bound."""
    import argparse
    import statistics
    from concurrent.futures import ProcessPoolExecutor, as_completed

    parser = argparse.ArgumentParser(prog="python -m workbench.mutants")
    parser.add_argument("--limit", type=int, default=50, help="seeds per mutant, generator and start")
    parser.add_argument("--starts", default="0,1000,2000", help="comma-separated first seeds")
    parser.add_argument("--generators", default="generic,composed")
    parser.add_argument("--only", default="", help="comma-separated mutant names")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clean", type=int, default=0, metavar="N",
                        help="instead: run N seeds (from the first of --starts) of each --only mutant's "
                             "scenario on the correct protocol and count findings (there must be none)")
    args = parser.parse_args(argv)
    starts = [int(s) for s in args.starts.split(",")]
    if args.clean:
        for name in args.only.split(","):
            found: list[Finding] = []
            with ProcessPoolExecutor(args.workers) as pool:
                first = starts[0]
                jobs = pool.map(_clean, [(name, s) for s in range(first, first + args.clean)], chunksize=4)
                for done, (_, finding) in enumerate(jobs, start=1):
                    if finding is not None:
                        found.append(finding)
                        print(f"  {name} without its bug: {finding}", flush=True)
                    if done % 100 == 0 or done == args.clean:  # partial counts survive an interrupt
                        print(f"{name} without its bug: {len(found)} findings in seeds {first}-{first + done - 1}",
                              flush=True)
        return
    names = args.only.split(",") if args.only else [m.name for m in CATALOGUE if m.equivalent is None]
    jobs = [(name, gen, args.limit, start) for name in names for gen in args.generators.split(",")
            for start in starts]
    results: dict[tuple[str, str], list[tuple[int, int, bool]]] = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for future in as_completed([pool.submit(_measure, job) for job in jobs]):
            name, gen, start, count, caught = future.result()
            print(f"  {name} {gen} from seed {start}: {'caught after' if caught else 'nothing in'} {count} seeds",
                  flush=True)
            got = results.setdefault((name, gen), [])
            got.append((start, count, caught))
            if len(got) < len(starts):
                continue
            got.sort()  # by start seed
            counts = [c for _, c, _ in got]
            missed = sum(not ok for _, _, ok in got)

            def show(value: float, bound: bool) -> str:
                return f"{'>' if bound else ''}{value:g}"

            median = statistics.median(counts)
            print(f"{name:30} {gen:9} caught from {len(got) - missed}/{len(got)} starts; seeds-to-catch "
                  f"median {show(median, missed * 2 >= len(got))} max {show(max(counts), missed > 0)}; "
                  f"per start {['>' + str(c) if not ok else c for _, c, ok in got]}", flush=True)


if __name__ == "__main__":
    main()
