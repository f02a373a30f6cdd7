"""A composed, Jepsen-style nemesis: overlapping faults from independent processes.

The generic nemesis (`schedule._nemesis`) runs one fault at a time. Real outages
overlap: a leader is paused while a partition cuts it from half the cluster, two nodes
crash together, a clock runs fast while messages of an old term sit in a slow link.
Jepsen composes its nemeses for that reason (`nemesis/compose`, `combined/nemesis-
package`). Here every fault family is its own Poisson process with its own rate
(0 switches it off), drawn independently over `[start, stop]`, so faults overlap as
often as the rates make them:

- partitions of every shape, half of the aimable ones aimed at the current leader,
  some of them holding cut messages and delivering them at the heal (TCP-like);
- crashes of one node up to a minority at once (the first often the leader), and
  whole-cluster crashes with staggered restarts;
- pauses of a node or the leader (a pause during a partition happens by overlap);
- clocks: a static offset and a drift per node, and mid-run drift changes; within
  `max_clock_drift` unless `clocks_beyond_bound`, which also allows drifts of up to
  10x the bound and clock jumps (steps) mid-run. Only a protocol whose safety does
  not rest on clocks (Raft log/read_index, Paxos without leases) should be searched
  with clocks beyond the bound: leases are unsafe there by design (thesis §6.4.1);
- long-delay windows: messages on the links of one node (or of all) held back
  0.5-3x the election timeout, some and not others, so old-term messages arrive
  after newer ones;
- duplication windows;
- crash points (off unless `crash_points` > 0): a crash that lands inside a step,
  between its durable write and its sends, between two of its records, or after its
  sends before its reply (issue 12);
- leader stalls (off unless `leader_stalls` > 0), aimed at the lease window: see
  `_leader_stall`;
- vote races (off unless `vote_races` > 0), aimed at a vote inside a lease at a
  just-adopted term: see `_vote_race`.

The result is plain `faults:` data (explicit timed partitions, node faults, clocks,
clock changes and link windows): printed, stored with the run, replayed by
`workbench run` with no generator involved. Nothing here reads a clock or the
module-level `random`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workbench.faults.schedule import FaultEvent

_SHAPES = ("halves", "majority-minority", "random-halves", "isolate", "bridge", "majorities-ring", "one-way")
_AIMABLE = ("halves", "majority-minority", "random-halves", "isolate", "bridge")


@dataclass(frozen=True)
class NemesisMix:
    """Rates (faults per second) of each independent process; 0 turns one off."""

    partitions: float = 1.5
    crashes: float = 1.0
    cluster_crashes: float = 0.1
    pauses: float = 1.0
    clock_changes: float = 0.6
    delays: float = 1.2
    duplication: float = 0.5
    hold_p: float = 0.3
    """Share of partitions that hold cut messages and deliver them at the heal."""
    leader_p: float = 0.5
    """Share of aimable faults (partitions, pauses, the first crash) aimed at the leader."""
    shapes: tuple[str, ...] = _SHAPES
    """Partition shapes to draw from (a focused search may narrow them)."""
    clocks_beyond_bound: bool = False
    max_offset_ms: float = 1000.0
    """Static clock offsets are drawn from +-this (harmless to correct protocols: they
    compare only readings of one clock)."""
    crash_points: float = 0.0
    """Crashes inside a step (issue 12, `faults.spec.CrashPoint`); off by default so the
    scenarios of existing seeds stay as they were (drawn last, from the same rng)."""
    point_weights: tuple[tuple[str, float], ...] = (
        ("after_persist", 1.0), ("mid_persist", 1.0), ("before_reply", 1.0))
    """Which point each of those crashes waits for, by weight."""
    point_record: str | None = None
    """A `mid_persist` crash lands only in a step that writes this record (`snapshot`:
    Raft's InstallSnapshot, not an election's term and votes, which are as many records)."""
    point_window_et: tuple[float, float] = (0.3, 3.0)
    """A crash point's window (how long it waits for its step), uniform in these
    multiples of the election timeout; a rare step (an InstallSnapshot) needs a long one."""
    leader_stalls: float = 0.0
    """Lease-window attacks per second (`_leader_stall`); off by default, drawn after
    everything else, so the scenarios of existing seeds stay as they were."""
    stall_pause_et: tuple[float, float] = (2.5, 4.5)
    """A stalled leader's pause, uniform in these multiples of the election timeout:
    past its lease and long enough for the others to time out (1-2 election timeouts),
    elect, and commit writes. Measured on Raft `long_lease` (20 seeds from each of
    starts 0/1000/2000): 1.5-3.5 caught 2/4/3, 2.5-4.5 caught 4/3/4."""
    stall_cut_et: tuple[float, float] = (0.2, 1.0)
    """How long the stall's cut outlasts the pause (election timeouts): the resumed
    leader, still cut from one follower or from all, serves reads from its lease until
    CheckQuorum deposes it. 0.2-1.0 caught 6/4/3 of 20 where 0.5-3.0 caught 4/3/4."""
    stall_shapes: tuple[str, ...] = ("isolate", "bridge")
    """The stall's cut, by weight of repetition: `bridge` aimed at the leader cuts it
    from one follower only (the issue's recipe), `isolate` from everyone."""
    stall_delay_et: tuple[float, float] = (0.05, 1.0)
    """Extra delay of the stall's held-back messages (election timeouts): old-term
    votes and replies arriving after the resumed leader's heartbeat."""
    vote_races: float = 0.0
    """Attacks on the vote a lease forbids, per second (`_vote_race`); off by default,
    drawn after everything else (the leader stalls included), so the scenarios of
    existing seeds stay as they were. One race at a time: a race drawn while the last
    one runs is skipped."""
    race_unseat_et: float = 2.0
    """The race's first step (election timeouts): the highest-numbered node is cut off,
    so that if it leads the others elect one of themselves."""
    race_pause_et: tuple[float, float] = (3.0, 4.5)
    """The raced leader's pause (election timeouts): both followers time out and keep
    pre-voting, so the held links carry several pre-votes and grants. Measured on
    `raft:lease_vote_by_term` (its workload, 12 s runs, seeds 0-99): 2-3 caught it in 7
    seeds, 3-4.5 in 15."""
    race_open_et: tuple[float, float] = (0.1, 0.15)
    """How long after the resume the raced leader keeps its link to the follower that
    acks it (election timeouts): its heartbeat and the ack, no more. A later round
    that reaches the follower after it adopted the new term draws a reply of that term,
    which deposes the old leader before it serves a stale read (0.1-0.2: 14 seeds of
    100 caught, 0.1-0.15: 15)."""
    race_cut_et: tuple[float, float] = (1.0, 2.0)
    """How long the raced leader stays isolated after the resume (election timeouts):
    past its lease, which it spends serving reads."""
    race_hold_from_et: float = 0.5
    """When, after the pause starts (election timeouts), the links into the highest-
    numbered node start holding what they carry (before either follower's lease ends)."""
    race_delay_et: tuple[float, float] = (0.2, 0.5)
    """Extra delay of every message on the highest-numbered node's links just after the
    resume (election timeouts), each drawn uniformly in a range drawn from this one, so
    a RequestVote may arrive after a reply sent later. Longer than `race_open_et`: no
    message of the new term reaches the follower while the old leader can still hear
    of it."""
    race_window_et: float = 0.08
    """How long that delay window lasts (election timeouts): it covers the new
    candidate's RequestVote and replies, not the vote that comes back or the new
    leader's first entries (0.3 caught as often, 15 seeds of 100, but slows both)."""


def _times(rng: random.Random, rate: float, start: float, stop: float) -> list[float]:
    """Arrival times of a Poisson process of `rate` per second on [start, stop)."""
    out: list[float] = []
    if rate <= 0:
        return out
    t = start
    while True:
        t += rng.expovariate(rate)
        if t >= stop:
            return out
        out.append(round(t, 4))


def _span(at: float, length: float, stop: float) -> float:
    """A duration from `at`, cut short at `stop` (the quiet tail is for healing)."""
    return round(max(min(at + length, stop) - at, 0.001), 4)


def composed_faults(rng: random.Random, nodes: int, *, duration_s: float, election_timeout_ms: float,
                    max_clock_drift: float, mix: NemesisMix = NemesisMix(), start: float = 0.5,
                    quiet_tail_s: float = 2.5) -> dict[str, Any]:
    """A `faults:` section of overlapping faults for a run of `duration_s`; faults end
    by `duration_s - quiet_tail_s`. Same rng state and arguments => same section."""
    stop = duration_s - quiet_tail_s
    et = election_timeout_ms / 1000.0
    ids = list(range(nodes))
    minority = (nodes - 1) // 2
    partitions: list[dict[str, Any]] = []
    node_faults: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    clock_changes: list[dict[str, Any]] = []

    def target() -> int | str:
        return "leader" if rng.random() < mix.leader_p else rng.choice(ids)

    for at in _times(rng, mix.partitions, start, stop):
        shape = rng.choice(mix.shapes if nodes >= 3 else ("halves", "isolate", "one-way"))
        spec: dict[str, Any] = {"shape": shape, "at": at,
                                "duration": _span(at, rng.expovariate(1 / max(4 * et, 0.3)), stop)}
        if shape in _AIMABLE:
            spec["node"] = target()
        if shape == "one-way":
            src = rng.choice(ids)
            spec["from"] = [src]
            spec["to"] = sorted(rng.sample([i for i in ids if i != src], k=max(1, nodes // 2)))
        if rng.random() < mix.hold_p:
            spec["hold"] = True
        partitions.append(spec)

    for at in _times(rng, mix.crashes if minority else 0.0, start, stop):
        k = rng.randint(1, minority)
        victims: list[int | str] = [target()]
        victims += rng.sample(ids, k=k - 1)  # may repeat the first: then k-1 distinct nodes down
        for victim in victims:
            # Mostly short (a reboot), sometimes longer than an election.
            length = rng.uniform(0.002, et) if rng.random() < 0.6 else rng.uniform(et, 6 * et)
            node_faults.append({"kind": "crash", "node": victim, "at": at, "duration": _span(at, length, stop)})

    for at in _times(rng, mix.cluster_crashes, start, stop):
        for victim in ids:  # everyone down at once, back one by one
            node_faults.append({"kind": "crash", "node": victim, "at": at,
                                "duration": _span(at, rng.uniform(0.002, 2 * et), stop)})

    for at in _times(rng, mix.pauses, start, stop):
        node_faults.append({"kind": "pause", "node": target(), "at": at,
                            "duration": _span(at, rng.uniform(0.3 * et, 3 * et), stop)})

    bound = max_clock_drift * (10.0 if mix.clocks_beyond_bound else 1.0)
    clocks = [{"node": i, "offset_ms": round(rng.uniform(-mix.max_offset_ms, mix.max_offset_ms), 3),
               "drift": round(rng.uniform(-bound, bound), 6)} for i in ids]
    for at in _times(rng, mix.clock_changes, start, stop):
        change: dict[str, Any] = {"at": at, "node": rng.choice(ids), "drift": round(rng.uniform(-bound, bound), 6)}
        if mix.clocks_beyond_bound and rng.random() < 0.5:
            change["jump_ms"] = round(rng.uniform(-2, 2) * election_timeout_ms, 3)
        clock_changes.append(change)

    for at in _times(rng, mix.delays, start, stop):
        window: dict[str, Any] = {"at": at, "duration": _span(at, rng.expovariate(1 / max(3 * et, 0.3)), stop),
                                  "delay_low_ms": round(0.5 * election_timeout_ms, 3),
                                  "delay_high_ms": round(3.0 * election_timeout_ms, 3),
                                  "delay_p": round(rng.uniform(0.2, 1.0), 3)}
        if rng.random() < 0.7:
            window["nodes"] = [rng.choice(ids)]
        links.append(window)

    for at in _times(rng, mix.duplication, start, stop):
        links.append({"at": at, "duration": _span(at, rng.expovariate(1 / max(3 * et, 0.3)), stop),
                      "duplicate": round(rng.uniform(0.2, 0.5), 3)})

    # Last, so a mix without them draws exactly what it drew before. A point crash
    # waits for its step (`runtime.driver.NodeDriver.arm_crash`) until the window ends;
    # the window is long enough for a busy node's next write and a restart after it.
    points, weights = zip(*mix.point_weights, strict=True) if mix.point_weights else ((), ())
    for at in _times(rng, mix.crash_points if points else 0.0, start, stop):
        point = rng.choices(points, weights)[0]
        low, high = mix.point_window_et
        fault = {"kind": "crash", "node": target(), "at": at, "point": point,
                 "duration": _span(at, rng.uniform(low * et, high * et), stop)}
        if point == "mid_persist" and mix.point_record is not None:
            fault["record"] = mix.point_record
        node_faults.append(fault)

    # Last again (after the crash points), for the same reason.
    for at in _times(rng, mix.leader_stalls, start, stop):
        _leader_stall(rng, at, stop=stop, et=et, ids=ids, mix=mix, partitions=partitions,
                      node_faults=node_faults, links=links)

    # Last again (after the leader stalls), for the same reason.
    free_at = start
    for at in _times(rng, mix.vote_races, start, stop):
        if at < free_at:
            continue  # one race at a time: a second pause would hit the old leader again
        free_at = _vote_race(rng, at, stop=stop, et=et, ids=ids, mix=mix, partitions=partitions,
                             node_faults=node_faults, links=links)

    return {"partitions": partitions, "nodes": node_faults, "clocks": clocks,
            "clock_changes": clock_changes, "links": links}


def _leader_stall(rng: random.Random, at: float, *, stop: float, et: float, ids: list[int], mix: NemesisMix,
                  partitions: list[dict[str, Any]], node_faults: list[dict[str, Any]],
                  links: list[dict[str, Any]]) -> None:
    """One attack on the lease window (issue 11; thesis §6.4.1 and §4.2.3), as three
    overlapping faults that all resolve `leader` at `at`, before anyone else can lead:

    - the leader is paused for `stall_pause_et` election timeouts: its followers' last
      acks still back its lease, they time out and the others elect a new leader who
      commits writes;
    - from the same moment it is cut (`bridge` aimed at the leader: from one follower,
      the issue's recipe; or `isolate`d) until after it resumes, so it hears nothing
      of the new term from that side and serves its clients' reads from its lease: a
      stale read unless the lease ended before anyone could vote (a 10x lease) and
      unless no follower that acked it voted inside it (a vote at a just-adopted term);
    - the links of one node (or of all) hold back some messages by a fraction of an
      election timeout from the pause until past the resume, so pre-votes, votes and
      their replies of the new term cross the resumed leader's heartbeats.

    The pause ends first; everything is cut short at `stop` like the other faults."""
    pause = rng.uniform(*mix.stall_pause_et) * et
    node_faults.append({"kind": "pause", "node": "leader", "at": at, "duration": _span(at, pause, stop)})
    cut = pause + rng.uniform(*mix.stall_cut_et) * et
    partitions.append({"shape": rng.choice(mix.stall_shapes), "node": "leader", "at": at,
                       "duration": _span(at, cut, stop)})
    low, high = sorted(rng.uniform(*mix.stall_delay_et) * et * 1000.0 for _ in range(2))
    window: dict[str, Any] = {"at": round(at + 0.5 * pause, 4), "duration": _span(at + 0.5 * pause, cut, stop),
                              "delay_low_ms": round(low, 3), "delay_high_ms": round(high, 3),
                              "delay_p": round(rng.uniform(0.2, 0.6), 3)}
    if rng.random() < 0.7:
        window["nodes"] = [rng.choice(ids)]
    if window["at"] < stop:
        links.append(window)


def _vote_race(rng: random.Random, at: float, *, stop: float, et: float, ids: list[int], mix: NemesisMix,
               partitions: list[dict[str, Any]], node_faults: list[dict[str, Any]],
               links: list[dict[str, Any]]) -> float:
    """One attack on the promise a lease rests on (issue 11; thesis §4.2.3, §6.4.1): a
    follower F that acked leader L does not vote inside L's lease, whatever the term.
    Aimed at 3 nodes and at `raft:lease_vote_by_term`'s interleaving
    (tests/scenarios/raft_lease_vote_after_term_adoption.txt), which needs, at F and in
    this order: F grants G's pre-vote (L silent for a lease); F sends its own pre-vote;
    L's heartbeat arrives and F acks it; G, a candidate by now, rejects F's pre-vote
    with its new term, which F adopts (clearing its vote); G's RequestVote of that same
    term arrives. Then G must commit a write and L serve a read of the old value inside
    the lease. Random timing almost never lines this up (0 of 150 seeds under the
    leader stalls), so each step is laid out as faults (`ids[-1]` = node g):

    - g is cut off for `race_unseat_et`, then rejoins: if it led, one of the others
      now does. The rest is aimed at `leader` L, and `bridge` aimed at L cuts it from
      the highest-numbered other node, g: so G = g, F = the third node.
    - L is paused for `race_pause_et`, isolated meanwhile (its followers' requests are
      lost rather than held for its resume, where a write would lengthen F's log past
      G's and F would refuse G whatever the lease), and cut from g from then on.
    - From `race_hold_from_et` into the pause until just before the resume, the links
      into g hold what they carry (TCP-like, delivered at the heal): F's pre-votes
      and F's grants of g's pre-votes pile up, so neither becomes a candidate while
      L sleeps; g's pre-votes still reach F.
    - At the release g (now before L's heartbeat reaches F) sees F's grant and F's
      pre-votes in some order: a pre-vote after the grant is rejected with the new
      term. Every message on g's links is then held back `race_delay_et` for
      `race_window_et`, so its replies reach F after L's heartbeat, and the
      RequestVote may trail the rejection.
    - L keeps its link to F for `race_open_et` after the resume (heartbeat, ack: a
      fresh lease) and is then isolated for `race_cut_et`: no reply of the new term
      deposes it, and it serves its clients' reads from the lease until it runs out.

    The correct protocol refuses that vote (F heard from L within the minimum election
    timeout): the mutant's scenario without the bug finds nothing in 1,000 seeds
    (docs/mutants.md). Returns the time the next race may start."""
    g = ids[-1]
    others = ids[:-1]
    partitions.append({"shape": "isolate", "node": g, "at": at, "duration": _span(at, mix.race_unseat_et * et, stop)})
    at = round(at + (mix.race_unseat_et + 1.0) * et, 4)
    pause = rng.uniform(*mix.race_pause_et) * et
    resume = at + pause
    opened = resume + rng.uniform(*mix.race_open_et) * et
    healed = resume + rng.uniform(*mix.race_cut_et) * et
    low, high = sorted(rng.uniform(*mix.race_delay_et) * et * 1000.0 for _ in range(2))
    if resume >= stop:
        return stop
    node_faults.append({"kind": "pause", "node": "leader", "at": at, "duration": _span(at, pause, stop)})
    partitions.append({"shape": "isolate", "node": "leader", "at": at, "duration": _span(at, pause, stop)})
    partitions.append({"shape": "bridge", "node": "leader", "at": at, "duration": _span(at, healed - at, stop)})
    held_from = at + mix.race_hold_from_et * et
    release = resume - 0.0005  # just before L's heartbeat: L's own sends to g are never held
    if release > held_from:
        partitions.append({"shape": "one-way", "from": others, "to": [g], "hold": True, "at": round(held_from, 4),
                           "duration": _span(held_from, release - held_from, stop)})
    links.append({"at": round(release, 4), "duration": _span(release, mix.race_window_et * et, stop),
                  "delay_low_ms": round(low, 3), "delay_high_ms": round(high, 3), "delay_p": 1.0, "nodes": [g]})
    if opened < stop:
        partitions.append({"shape": "isolate", "node": "leader", "at": round(opened, 4),
                           "duration": _span(opened, healed - opened, stop)})
    return healed + et


_STARTS = {"partition_start", "crash", "pause", "link_start"}
_ENDS = {"partition_end", "restart", "resume", "link_end"}


def overlapping_faults(events: Iterable[FaultEvent]) -> int:
    """How many faults start while another fault is still active."""
    active: set[int] = set()
    overlaps = 0
    for event in events:
        if event.kind in _STARTS:
            overlaps += bool(active)
            active.add(event.fault_id)
        elif event.kind in _ENDS:
            active.discard(event.fault_id)
    return overlaps
