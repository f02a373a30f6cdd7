"""The fault model: specs, partition shapes, link sampling, schedules, the network."""

from __future__ import annotations

import ast
import math
import random
import statistics
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError
from scipy import stats

import workbench.faults as faults_pkg
from workbench.errors import ConfigError
from workbench.faults import (
    LATENCY_ADAPTER,
    Clock,
    ClockSpec,
    ConstantLatency,
    FaultsConfig,
    LinkModel,
    LinkSpec,
    NemesisSpec,
    Network,
    Partition,
    PartitionSpec,
    build_schedule,
    clocks_for,
    make_sampler,
    resolve_node,
    resolve_partition,
    sample_latency,
)

SIZES = (3, 5, 7)


def part(
    shape: str, n: int, *, leader: int | None = None, seed: int = 0, **kw: object
) -> Partition:
    spec = PartitionSpec.model_validate({"shape": shape, "at": 0, **kw})
    return resolve_partition(spec, list(range(n)), leader=leader, rng=random.Random(seed))


def two_way(p: Partition, node: int, n: int) -> frozenset[int]:
    """Nodes `node` can exchange messages with in both directions, itself included."""
    return frozenset(m for m in range(n) if p.allows(node, m) and p.allows(m, node))


def hears(p: Partition, node: int, n: int) -> frozenset[int]:
    return frozenset(m for m in range(n) if p.allows(m, node))


def cut_both_ways(p: Partition, a: frozenset[int], b: frozenset[int]) -> bool:
    return all(not p.allows(x, y) and not p.allows(y, x) for x in a for y in b)


def connected(p: Partition, group: frozenset[int]) -> bool:
    return all(p.allows(x, y) for x in group for y in group)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("shape", ["halves", "majority-minority"])
def test_halves_split_first_majority_from_the_rest(n: int, shape: str) -> None:
    p = part(shape, n)
    major, minor = frozenset(range(n // 2 + 1)), frozenset(range(n // 2 + 1, n))
    assert p.groups == (major, minor)
    assert connected(p, major) and connected(p, minor)
    assert cut_both_ways(p, major, minor)
    assert p.minority_nodes() == minor


def test_halves_for_five_nodes_is_012_vs_34() -> None:
    p = part("halves", 5)
    assert p.groups == (frozenset({0, 1, 2}), frozenset({3, 4}))
    assert p.minority_nodes() == {3, 4}


@pytest.mark.parametrize(("n", "sizes"), [(1, (1,)), (2, (1, 1)), (4, (3, 1)), (6, (4, 2))])
def test_halves_for_other_sizes_keep_a_strict_majority_side(n: int, sizes: tuple) -> None:
    p = part("halves", n)
    assert tuple(len(g) for g in p.groups) == sizes
    assert (n >= 3) == (p.minority_nodes() == p.groups[-1])


@pytest.mark.parametrize("n", SIZES)
def test_isolate_named_node(n: int) -> None:
    p = part("isolate", n, node=1)
    rest = frozenset(range(n)) - {1}
    assert p.groups == (frozenset({1}), rest)
    assert cut_both_ways(p, frozenset({1}), rest)
    assert connected(p, rest)
    assert p.minority_nodes() == {1}


@pytest.mark.parametrize("n", SIZES)
def test_isolate_leader_uses_the_current_leader(n: int) -> None:
    p = part("isolate", n, node="leader", leader=n - 1)
    assert p.groups[0] == {n - 1}
    assert p.minority_nodes() == {n - 1}


def test_isolate_leader_without_a_leader_falls_back_to_a_seeded_random_node() -> None:
    picks = {part("isolate", 5, node="leader", leader=None, seed=s).groups[0] for s in range(40)}
    assert picks == {frozenset({i}) for i in range(5)}
    assert part("isolate", 5, node="leader", seed=3) == part("isolate", 5, node="leader", seed=3)


@pytest.mark.parametrize("n", SIZES)
def test_isolate_random_is_seeded_and_reaches_every_node(n: int) -> None:
    assert part("isolate", n, seed=11) == part("isolate", n, seed=11)
    isolated = {next(iter(part("isolate", n, seed=s).minority_nodes())) for s in range(60)}
    assert isolated == set(range(n))


def test_isolate_defaults_to_random_node() -> None:
    assert PartitionSpec(shape="isolate", at=0).node == "random"


@pytest.mark.parametrize("n", SIZES)
def test_bridge_node_sees_everyone_and_the_sides_do_not_see_each_other(n: int) -> None:
    p = part("bridge", n)
    mid = n // 2
    left, right = frozenset(range(mid)), frozenset(range(mid + 1, n))
    assert two_way(p, mid, n) == frozenset(range(n))
    assert cut_both_ways(p, left, right)
    assert connected(p, left | {mid}) and connected(p, right | {mid})
    assert p.groups == (left | {mid}, right | {mid})
    assert p.minority_nodes() == frozenset()  # odd n: each side plus the bridge is a majority


def test_bridge_for_five_nodes() -> None:
    p = part("bridge", 5)
    assert not p.allows(0, 3) and not p.allows(4, 1)
    assert all(p.allows(2, m) and p.allows(m, 2) for m in range(5))


@pytest.mark.parametrize("n", (5, 7))
@pytest.mark.parametrize("seed", range(5))
def test_majorities_ring_every_node_sees_a_distinct_majority(n: int, seed: int) -> None:
    p = part("majorities-ring", n, seed=seed)
    views = [two_way(p, node, n) for node in range(n)]
    assert all(2 * len(v) > n for v in views)
    assert len(set(views)) == n
    assert list(p.groups) == views
    assert p.minority_nodes() == frozenset()
    assert p.blocked, "a ring that cuts nothing is not a partition"


def test_majorities_ring_three_nodes_is_a_directed_ring() -> None:
    # No symmetric version exists for n=3: each node hears a distinct majority instead.
    p = part("majorities-ring", 3, seed=4)
    heard = [hears(p, node, 3) for node in range(3)]
    assert all(len(h) == 2 for h in heard)
    assert len(set(heard)) == 3
    assert list(p.groups) == heard
    # ...but nobody has a two-way majority, so a request/response protocol is stuck.
    assert p.minority_nodes() == {0, 1, 2}


def test_majorities_ring_depends_on_the_seed() -> None:
    rings = {part("majorities-ring", 7, seed=s).blocked for s in range(10)}
    assert len(rings) > 1
    assert part("majorities-ring", 7, seed=2) == part("majorities-ring", 7, seed=2)


@pytest.mark.parametrize("n", SIZES)
def test_random_halves_is_a_seeded_majority_minority_split(n: int) -> None:
    p = part("random-halves", n, seed=9)
    assert p == part("random-halves", n, seed=9)
    major, minor = p.groups
    assert len(major) == n // 2 + 1 and major | minor == set(range(n))
    assert cut_both_ways(p, major, minor) and connected(p, major) and connected(p, minor)
    assert p.minority_nodes() == minor
    assert len({part("random-halves", n, seed=s).groups for s in range(30)}) > 1


@pytest.mark.parametrize("n", SIZES)
def test_explicit_groups_plus_the_unlisted_nodes(n: int) -> None:
    p = part("groups", n, groups=[[0], [1]])
    rest = frozenset(range(2, n))
    assert p.groups == (frozenset({0}), frozenset({1}), rest)
    assert cut_both_ways(p, frozenset({0}), frozenset({1}))
    assert cut_both_ways(p, frozenset({0, 1}), rest)
    assert connected(p, rest)


def test_groups_covering_everyone_add_no_extra_group() -> None:
    p = part("groups", 4, groups=[[0, 3], [1, 2]])
    assert p.groups == (frozenset({0, 3}), frozenset({1, 2}))
    assert p.allows(0, 3) and not p.allows(0, 1)
    assert p.minority_nodes() == {0, 1, 2, 3}  # 2 of 4 is no strict majority


@pytest.mark.parametrize("n", SIZES)
def test_one_way_cut_is_one_way(n: int) -> None:
    p = part("one-way", n, **{"from": [0], "to": list(range(1, n))})
    for b in range(1, n):
        assert not p.allows(0, b)
        assert p.allows(b, 0)
    assert p.allows(1, n - 1)
    # Node 0 reaches nobody but itself, so it is the minority.
    assert p.minority_nodes() == {0}


def test_one_way_into_a_node_makes_it_minority_too() -> None:
    # Node 0 can send to everyone but hears nobody: it cannot collect a quorum.
    p = part("one-way", 5, **{"from": [1, 2, 3, 4], "to": [0]})
    assert p.allows(0, 1) and not p.allows(1, 0)
    assert p.minority_nodes() == {0}


SHAPES = ["halves", "majority-minority", "isolate", "bridge", "majorities-ring", "random-halves"]


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=9),
    shape=st.sampled_from(SHAPES),
    seed=st.integers(min_value=0, max_value=2**32),
    leader=st.none() | st.integers(min_value=0, max_value=8),
)
def test_every_shape_is_well_formed(n: int, shape: str, seed: int, leader: int | None) -> None:
    leader = None if leader is None else leader % n
    p = part(
        shape, n, seed=seed, leader=leader, **({"node": "leader"} if shape == "isolate" else {})
    )
    nodes = set(range(n))
    assert set().union(*p.groups) == nodes
    assert all(a != b and a in nodes and b in nodes for a, b in p.blocked)
    directed = shape == "majorities-ring" and n == 3
    if not directed:
        assert all((b, a) in p.blocked for a, b in p.blocked)
    if shape == "majorities-ring" and n >= 4:
        views = [two_way(p, x, n) for x in range(n)]
        assert all(2 * len(v) > n for v in views) and len(set(views)) == n
    assert p == part(
        shape, n, seed=seed, leader=leader, **({"node": "leader"} if shape == "isolate" else {})
    )


# --------------------------------------------------------------------------- latency and links

LATENCIES = [
    {"dist": "constant", "ms": 4.0},
    {"dist": "uniform", "low_ms": 1.0, "high_ms": 3.0},
    {"dist": "exponential", "mean_ms": 5.0},
    {"dist": "lognormal", "median_ms": 2.0, "sigma": 0.5},
    {"dist": "pareto", "scale_ms": 1.0, "shape": 3.0},
    {
        "dist": "mixture",
        "components": [
            {"weight": 19, "latency": {"dist": "uniform", "low_ms": 1, "high_ms": 2}},
            {"weight": 1, "latency": {"dist": "exponential", "mean_ms": 50}},
        ],
    },
]

# scipy's view of the same distributions, to check shape and not just the mean.
SCIPY = {
    "uniform": stats.uniform(loc=1.0, scale=2.0),
    "exponential": stats.expon(scale=5.0),
    "lognormal": stats.lognorm(s=0.5, scale=2.0),
    "pareto": stats.pareto(b=3.0, scale=1.0),
}


@pytest.mark.parametrize("raw", LATENCIES, ids=[d["dist"] for d in LATENCIES])
def test_latency_samples_match_the_distribution(raw: dict) -> None:
    spec = LATENCY_ADAPTER.validate_python(raw)
    sample = make_sampler(spec)
    rng = random.Random(42)
    xs = [sample(rng) for _ in range(20_000)]
    assert min(xs) >= 0.0
    assert statistics.fmean(xs) == pytest.approx(spec.mean_ms(), rel=0.05)
    if raw["dist"] in SCIPY:
        assert stats.kstest(xs, SCIPY[raw["dist"]].cdf).pvalue > 0.001


def test_theoretical_means() -> None:
    means = [LATENCY_ADAPTER.validate_python(raw).mean_ms() for raw in LATENCIES]
    assert means[:5] == pytest.approx([4.0, 2.0, 5.0, 2.0 * math.exp(0.125), 1.5])
    assert means[5] == pytest.approx((19 * 1.5 + 50) / 20)


def test_mixture_picks_components_by_weight() -> None:
    spec = LATENCY_ADAPTER.validate_python(
        {
            "dist": "mixture",
            "components": [
                {"weight": 1, "latency": {"dist": "constant", "ms": 1}},
                {"weight": 3, "latency": {"dist": "constant", "ms": 10}},
            ],
        }
    )
    rng = random.Random(1)
    xs = [sample_latency(spec, rng) for _ in range(10_000)]
    assert set(xs) == {1.0, 10.0}
    assert xs.count(10.0) / len(xs) == pytest.approx(0.75, abs=0.02)


def test_nested_mixture_parses_and_samples() -> None:
    inner = {
        "dist": "mixture",
        "components": [{"weight": 1, "latency": {"dist": "constant", "ms": 7}}],
    }
    spec = LATENCY_ADAPTER.validate_python(
        {"dist": "mixture", "components": [{"weight": 2, "latency": inner}]}
    )
    assert sample_latency(spec, random.Random(0)) == 7.0 and spec.mean_ms() == 7.0


def test_sampling_is_deterministic_given_the_rng() -> None:
    for raw in LATENCIES:
        spec = LATENCY_ADAPTER.validate_python(raw)
        a, b = random.Random(5), random.Random(5)
        assert [sample_latency(spec, a) for _ in range(50)] == [
            sample_latency(spec, b) for _ in range(50)
        ]


def test_default_link_latency_is_uniform_1_to_3_ms() -> None:
    link = LinkSpec()
    assert link.latency.model_dump() == {"dist": "uniform", "low_ms": 1.0, "high_ms": 3.0}
    rng = random.Random(0)
    xs = [d for _ in range(2000) for d in LinkModel(link).delays(rng)]
    assert len(xs) == 2000 and min(xs) >= 1.0 and max(xs) <= 3.0


def link_run(n: int = 40_000, **kw: float) -> list[list[float]]:
    model = LinkModel(LinkSpec(latency=ConstantLatency(ms=5.0), **kw))
    rng = random.Random(7)
    return [model.delays(rng) for _ in range(n)]


def test_loss_rate() -> None:
    runs = link_run(loss=0.2)
    assert sum(1 for r in runs if not r) / len(runs) == pytest.approx(0.2, abs=0.01)
    assert all(r == [5.0] for r in runs if r)


def test_duplicate_rate_and_copies_get_their_own_latency() -> None:
    runs = link_run(duplicate=0.3)
    assert all(len(r) in (1, 2) for r in runs)
    assert sum(1 for r in runs if len(r) == 2) / len(runs) == pytest.approx(0.3, abs=0.01)
    model = LinkModel(
        LinkSpec(latency={"dist": "uniform", "low_ms": 0, "high_ms": 100}, duplicate=1)
    )
    rng = random.Random(3)
    pairs = [model.delays(rng) for _ in range(100)]
    assert all(len(p) == 2 for p in pairs) and sum(p[0] != p[1] for p in pairs) == 100


def test_reorder_rate_and_delay() -> None:
    runs = link_run(reorder=0.1, reorder_delay_ms=20.0)
    delays = [d for r in runs for d in r]
    assert set(delays) == {5.0, 25.0}
    assert delays.count(25.0) / len(delays) == pytest.approx(0.1, abs=0.01)


def test_a_clean_link_never_drops_duplicates_or_delays() -> None:
    assert all(r == [5.0] for r in link_run(n=1000))


def test_all_three_together_are_reproducible() -> None:
    assert link_run(n=500, loss=0.1, duplicate=0.1, reorder=0.1) == link_run(
        n=500, loss=0.1, duplicate=0.1, reorder=0.1
    )


# --------------------------------------------------------------------------- validation


def test_misspelled_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="duraton"):
        PartitionSpec.model_validate({"shape": "halves", "at": 1, "duraton": 3})
    with pytest.raises(ValidationError, match="partition"):
        FaultsConfig.model_validate({"partition": []})
    with pytest.raises(ValidationError, match="low"):
        LinkSpec.model_validate({"latency": {"dist": "uniform", "low": 1, "high_ms": 2}})
    with pytest.raises(ValidationError, match="mean_intervall"):
        NemesisSpec.model_validate({"mean_intervall": 1, "mean_duration": 1})


@pytest.mark.parametrize(
    "raw",
    [
        {"latency": {"dist": "pareto", "scale_ms": 1, "shape": 1.0}},  # infinite mean
        {"latency": {"dist": "uniform", "low_ms": 3, "high_ms": 1}},
        {"latency": {"dist": "gamma", "ms": 1}},
        {"latency": {"dist": "mixture", "components": []}},
        {"loss": 1.5},
        {"duplicate": -0.1},
        {"latency": {"dist": "constant", "ms": -1}},
    ],
)
def test_bad_link_specs_are_rejected(raw: dict) -> None:
    with pytest.raises(ValidationError):
        LinkSpec.model_validate(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"shape": "halves", "at": 1, "duration": 5, "repeat": 3, "every": 5},  # every <= duration
        {"shape": "halves", "at": 1, "repeat": 3, "every": 5},  # repeats without an end
        {"shape": "halves", "at": 1, "duration": 1, "repeat": 3},  # repeats without every
        {"shape": "groups", "at": 1},
        {"shape": "majorities-ring", "at": 1, "node": 2},  # only aimable shapes take a node
        {"shape": "one-way", "at": 1, "from": [0]},
        {"shape": "halves", "at": 1, "to": [0]},
        {"shape": "triangle", "at": 1},
    ],
)
def test_bad_partition_specs_are_rejected(raw: dict) -> None:
    with pytest.raises(ValidationError):
        PartitionSpec.model_validate(raw)


def test_yaml_round_trip_keeps_the_from_key() -> None:
    text = """
    partitions:
      - {shape: one-way, from: [0], to: [1, 2], at: 2.5, duration: 1}
      - {shape: isolate, node: leader, at: 10, duration: 2, repeat: 3, every: 5}
    nemesis: {mean_interval: 10, mean_duration: 3, crash: true}
    nodes: [{kind: crash, node: random, at: 4, duration: 1}]
    clocks: [{node: 1, offset_ms: 3, drift: 0.01}]
    """
    cfg = FaultsConfig.model_validate(yaml.safe_load(text))
    assert cfg.partitions[0].from_ == [0]
    dumped = cfg.model_dump(mode="json")
    assert dumped["partitions"][0]["from"] == [0]
    assert FaultsConfig.model_validate(dumped) == cfg


def config(**raw: object) -> FaultsConfig:
    return FaultsConfig.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"partitions": [{"shape": "groups", "groups": [[0, 1], [7]], "at": 1}]},
            "faults.partitions[0].groups: node 7 does not exist (nodes are 0..4)",
        ),
        (
            {
                "partitions": [
                    {"shape": "halves", "at": 0},
                    {"shape": "one-way", "from": [5], "to": [0], "at": 1},
                ]
            },
            "faults.partitions[1].from: node 5 does not exist (nodes are 0..4)",
        ),
        (
            {"partitions": [{"shape": "one-way", "from": [0], "to": [9], "at": 1}]},
            "faults.partitions[0].to: node 9 does not exist (nodes are 0..4)",
        ),
        (
            {"partitions": [{"shape": "isolate", "node": 5, "at": 1}]},
            "faults.partitions[0].node: node 5 does not exist (nodes are 0..4)",
        ),
        (
            {"partitions": [{"shape": "groups", "groups": [[0, 1], [1, 2]], "at": 1}]},
            "faults.partitions[0].groups: node 1 is in more than one group",
        ),
        (
            {"nodes": [{"kind": "crash", "node": 6, "at": 1}]},
            "faults.nodes[0].node: node 6 does not exist (nodes are 0..4)",
        ),
        (
            {"clocks": [{"node": 5, "drift": 0.1}]},
            "faults.clocks[0].node: node 5 does not exist (nodes are 0..4)",
        ),
        (
            {"clocks": [{"node": 2}, {"node": 2, "offset_ms": 4}]},
            "faults.clocks[1].node: node 2 already has a clock (faults.clocks[0])",
        ),
    ],
)
def test_check_nodes_names_the_field(raw: dict, message: str) -> None:
    cfg = config(**raw)
    with pytest.raises(ConfigError) as err:
        cfg.check_nodes(5)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_check_nodes_accepts_a_valid_config() -> None:
    cfg = config(
        partitions=[
            {"shape": "groups", "groups": [[0, 1], [4]], "at": 1},
            {"shape": "isolate", "node": 4, "at": 1},
            {"shape": "one-way", "from": [0, 1], "to": [2, 3, 4], "at": 1},
        ],
        nodes=[{"kind": "pause", "node": "leader", "at": 2}],
        clocks=[{"node": 0}, {"node": 4}],
    )
    cfg.check_nodes(5)
    with pytest.raises(ConfigError, match=r"faults.partitions\[0\].groups: node 4 does not exist"):
        cfg.check_nodes(4)


# --------------------------------------------------------------------------- clocks


def test_clock_offset_and_drift() -> None:
    c = Clock(offset_ms=10.0, drift=0.01)
    assert c.local(0.0) == 10.0
    assert c.local(1000.0) == pytest.approx(1020.0)
    assert c.true_delay(101.0) == pytest.approx(100.0)
    # A timer set on the local clock fires when that much local time has passed.
    assert c.local(500.0 + c.true_delay(50.0)) - c.local(500.0) == pytest.approx(50.0)


def test_clocks_for_fills_in_perfect_clocks() -> None:
    cfg = FaultsConfig(clocks=[ClockSpec(node=2, offset_ms=-5, drift=-0.5)])
    assert clocks_for(cfg, 3) == [Clock(), Clock(), Clock(offset_ms=-5.0, drift=-0.5)]
    with pytest.raises(ConfigError, match=r"faults.clocks\[0\].node"):
        clocks_for(cfg, 2)
    with pytest.raises(ValidationError):
        ClockSpec(node=0, drift=-1.0)


# --------------------------------------------------------------------------- schedule


def kinds_times(events: list) -> list[tuple[str, float, int]]:
    return [(e.kind, e.time_ms, e.fault_id) for e in events]


def test_flapping_partition_expands_into_repeats() -> None:
    cfg = config(partitions=[{"shape": "halves", "at": 1, "duration": 2, "repeat": 3, "every": 5}])
    events = build_schedule(cfg, 60_000, random.Random(0))
    assert kinds_times(events) == [
        ("partition_start", 1000.0, 0),
        ("partition_end", 3000.0, 0),
        ("partition_start", 6000.0, 1),
        ("partition_end", 8000.0, 1),
        ("partition_start", 11000.0, 2),
        ("partition_end", 13000.0, 2),
    ]
    assert all(e.spec is cfg.partitions[0] for e in events)


def test_node_faults_pair_with_their_recovery() -> None:
    cfg = config(
        nodes=[
            {"kind": "crash", "node": 1, "at": 2, "duration": 1.5},
            {
                "kind": "pause",
                "node": "leader",
                "at": 0.1,
                "duration": 0.2,
                "repeat": 2,
                "every": 0.3,
            },
        ]
    )
    events = build_schedule(cfg, 10_000, random.Random(0))
    assert kinds_times(events) == [
        ("pause", 100.0, 1),
        ("resume", 300.0, 1),
        ("pause", 400.0, 2),
        ("resume", 600.0, 2),
        ("crash", 2000.0, 0),
        ("restart", 3500.0, 0),
    ]


def test_events_past_the_run_end_are_dropped() -> None:
    cfg = config(
        partitions=[
            {"shape": "halves", "at": 8, "duration": 5},  # ends after the run: end omitted
            {"shape": "isolate", "at": 12, "duration": 1},  # starts after the run: gone
            {"shape": "bridge", "at": 1},  # never ends
        ]
    )
    events = build_schedule(cfg, 10_000, random.Random(0))
    assert kinds_times(events) == [("partition_start", 1000.0, 2), ("partition_start", 8000.0, 0)]


def test_schedule_order_is_total_and_ends_come_first_at_a_tie() -> None:
    cfg = config(
        partitions=[
            {"shape": "isolate", "node": 0, "at": 3, "duration": 1},
            {"shape": "halves", "at": 1, "duration": 2},
        ],
        nodes=[{"kind": "crash", "node": 2, "at": 3}],
    )
    events = build_schedule(cfg, 10_000, random.Random(0))
    assert [e.seq for e in events] == list(range(len(events)))
    assert events == sorted(events)
    assert kinds_times(events) == [
        ("partition_start", 1000.0, 1),
        ("partition_end", 3000.0, 1),
        ("partition_start", 3000.0, 0),
        ("crash", 3000.0, 2),
        ("partition_end", 4000.0, 0),
    ]


END_OF = {"partition_start": "partition_end", "crash": "restart", "pause": "resume"}
NEMESIS = {"mean_interval": 4, "mean_duration": 2, "crash": True, "pause": True}


def nemesis_events(seed: int, **kw: object) -> list:
    return build_schedule(config(nemesis={**NEMESIS, **kw}), 300_000, random.Random(seed))


def test_nemesis_is_reproducible_from_its_seed() -> None:
    a, b, c = nemesis_events(1), nemesis_events(1), nemesis_events(2)
    assert kinds_times(a) == kinds_times(b)
    assert [e.spec for e in a] == [e.spec for e in b]
    assert kinds_times(a) != kinds_times(c)


@pytest.mark.parametrize("seed", range(5))
def test_nemesis_runs_one_fault_at_a_time_inside_its_window(seed: int) -> None:
    events = nemesis_events(seed, start=10, stop=250)
    assert len(events) > 20
    assert all(10_000 < e.time_ms <= 250_000 for e in events)
    # Strictly alternating start, end of the same fault: never two at once.
    for start, end in zip(events[::2], events[1::2], strict=True):
        assert start.kind in ("partition_start", "crash", "pause")
        assert end.fault_id == start.fault_id and end.time_ms > start.time_ms
        assert end.kind == END_OF[start.kind]


def test_nemesis_draws_from_the_configured_faults_only() -> None:
    events = nemesis_events(3, shapes=["isolate", "bridge"], pause=False)
    starts = [e for e in events if e.kind in ("partition_start", "crash", "pause")]
    assert {e.kind for e in starts} == {"partition_start", "crash"}
    assert {e.spec.shape for e in starts if e.kind == "partition_start"} == {"isolate", "bridge"}
    only_partitions = nemesis_events(3, crash=False, pause=False)
    assert {e.kind for e in only_partitions} == {"partition_start", "partition_end"}


def test_nemesis_default_stop_leaves_a_quiet_tail() -> None:
    events = build_schedule(
        config(nemesis={"mean_interval": 0.5, "mean_duration": 1}), 60_000, random.Random(0)
    )
    assert events[-1].time_ms <= 55_000
    assert events[-1].time_ms > 50_000  # with faults this frequent, it runs up to stop


def test_nemesis_rates_follow_the_means() -> None:
    events = nemesis_events(0, crash=False, pause=False)
    starts, ends = events[::2], events[1::2]
    durations = [e.time_ms - s.time_ms for s, e in zip(starts, ends, strict=True)]
    gaps = [s.time_ms - e.time_ms for e, s in zip(ends, starts[1:], strict=False)]
    assert statistics.fmean(gaps) == pytest.approx(4000, rel=0.25)
    assert statistics.fmean(durations) == pytest.approx(2000, rel=0.25)


def test_resolve_node() -> None:
    nodes = [0, 1, 2, 3, 4]
    assert resolve_node(3, nodes, leader=1, rng=random.Random(0)) == 3
    assert resolve_node("leader", nodes, leader=1, rng=random.Random(0)) == 1
    drawn = {resolve_node("leader", nodes, leader=None, rng=random.Random(s)) for s in range(40)}
    assert drawn == set(nodes)
    assert resolve_node("random", nodes, leader=None, rng=random.Random(8)) == resolve_node(
        "random", nodes, leader=None, rng=random.Random(8)
    )
    with pytest.raises(ValueError):
        resolve_node(9, nodes, leader=None, rng=random.Random(0))


# --------------------------------------------------------------------------- network


def network(n: int = 5) -> Network:
    return Network(n, LinkModel(LinkSpec(latency=ConstantLatency(ms=2.0))))


def test_network_without_partitions_delivers() -> None:
    net = network()
    assert not net.partitioned and net.allows(0, 4)
    assert net.deliveries(0, 4, random.Random(0)) == [2.0]
    assert net.minority_nodes() == frozenset() and net.active_groups() == {}


def test_overlapping_partitions_merge_and_end_independently() -> None:
    net = network()
    halves = part("halves", 5)  # {0,1,2} | {3,4}
    iso = part("isolate", 5, node=2)  # {2} | rest
    net.start_partition(10, halves)
    net.start_partition(11, iso)
    assert net.partitioned
    assert not net.allows(0, 3) and not net.allows(2, 0) and not net.allows(2, 3)
    assert net.allows(0, 1) and net.allows(3, 4)
    assert net.deliveries(2, 0, random.Random(0)) == []
    # Only {0,1} and {3,4} are left: nobody sees a majority of 5.
    assert net.minority_nodes() == {0, 1, 2, 3, 4}
    assert net.active_groups() == {10: [[0, 1, 2], [3, 4]], 11: [[2], [0, 1, 3, 4]]}

    net.end_partition(11)
    assert net.allows(2, 0) and net.allows(0, 2)  # only the isolation's links come back
    assert not net.allows(0, 3) and not net.allows(2, 3)  # both cut 2-3: still cut
    assert net.minority_nodes() == {3, 4}
    net.end_partition(10)
    assert not net.partitioned and net.allows(0, 3) and net.minority_nodes() == frozenset()
    with pytest.raises(KeyError):
        net.end_partition(10)


def test_network_one_way() -> None:
    net = network(3)
    net.start_partition(0, part("one-way", 3, **{"from": [0], "to": [1]}))
    assert net.deliveries(0, 1, random.Random(0)) == []
    assert net.deliveries(1, 0, random.Random(0)) == [2.0]


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(SHAPES), st.integers(0, 1000), st.booleans()), max_size=12
    )
)
def test_network_blocked_is_always_the_union_of_active_partitions(ops: list) -> None:
    n = 5
    net = network(n)
    active: dict[int, Partition] = {}
    for fid, (shape, seed, end_one) in enumerate(ops):
        if end_one and active:
            victim = sorted(active)[seed % len(active)]
            net.end_partition(victim)
            del active[victim]
        else:
            active[fid] = part(shape, n, seed=seed)
            net.start_partition(fid, active[fid])
        union = frozenset().union(*(p.blocked for p in active.values()))
        assert net.blocked() == union
        assert all(net.allows(a, b) == ((a, b) not in union) for a in range(n) for b in range(n))
        assert net.partitioned == bool(active)
        for p in active.values():
            assert p.minority_nodes() <= net.minority_nodes()


# --------------------------------------------------------------------------- house rules


def test_faults_never_use_the_module_level_random_or_a_clock() -> None:
    package = Path(faults_pkg.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "random"
            ):
                assert node.attr == "Random", f"{path.name}: random.{node.attr}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not {"time", "datetime"} & set(names), f"{path.name} imports a clock"
                if isinstance(node, ast.ImportFrom) and node.module == "random":
                    raise AssertionError(f"{path.name}: from random import ...")
