"""Honest warnings: what makes a run's numbers mean something else than they seem.

A run outside the assumptions of its protocol is still an experiment, so nothing here
stops it; the warnings go into the summary (`warnings: [...]`), the CLI prints them, and
the report can show them. Two sources:

- the config alone (`config_warnings`): a fault scheduled after the run ends; timeouts
  that the link latency defeats (Raft §5.6, "Timing and availability": broadcastTime
  << electionTimeout); clock drift beyond the bound a protocol's leases assume;
- the run's result (`result_warnings`): no leader for many election timeouts while no
  fault was active; a check that ran out of budget (`unknown`); an empty history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workbench.experiment.config import ExperimentConfig

NO_LEADER_TIMEOUTS = 5
"""Warn when a fault-free stretch without a leader lasts this many (maximum) election
timeouts: a healthy cluster elects within one or two (Raft §9.3, Figure 16)."""
EMPTY = "empty"
"""The verdict of a history without operations: nothing was checked."""

_LEADER_PROTOCOLS = ("raft", "paxos")
_FAULT_START = {"partition_start": "partition", "crash": "crash", "pause": "pause"}
_FAULT_END = {"partition_end": "partition", "restart": "crash", "resume": "pause"}


# ---------------------------------------------------------------- from the config
def config_warnings(config: ExperimentConfig) -> list[str]:
    return [*_faults_outside_run(config), *_timeouts_vs_latency(config), *_drift_beyond_bound(config)]


def _faults_outside_run(config: ExperimentConfig) -> list[str]:
    end = config.duration_s
    found = []
    for section in ("partitions", "nodes"):
        for i, fault in enumerate(getattr(config.faults, section)):
            where = f"faults.{section}[{i}]"
            if fault.at >= end:
                found.append(f"{where} starts at {fault.at:g} s, when the run is over ({end:g} s): "
                             "it never happens")
            elif fault.repeat > 1 and fault.every is not None:
                happen = sum(1 for k in range(fault.repeat) if fault.at + k * fault.every < end)
                if happen < fault.repeat:
                    found.append(f"{where}: only {happen} of its {fault.repeat} repetitions start "
                                 f"before the run ends ({end:g} s)")
    nemesis = config.faults.nemesis
    if nemesis is not None and nemesis.start >= end:
        found.append(f"faults.nemesis starts at {nemesis.start:g} s, when the run is over ({end:g} s): "
                     "it never acts")
    return found


def _timeouts_vs_latency(config: ExperimentConfig) -> list[str]:
    one_way = config.network.latency.mean_ms()
    round_trip = 2 * one_way
    found = []
    if config.protocol in _LEADER_PROTOCOLS:
        options = config.protocol_options()
        low = options.election_timeout_min_ms
        if low < 2 * round_trip:
            found.append(f"{config.protocol}.election_timeout_min_ms ({low:g} ms) is under 2x the mean "
                         f"round trip ({round_trip:g} ms): elections may never settle "
                         "(Raft §5.6 needs broadcast time << election timeout)")
        if options.heartbeat_ms + one_way >= low:
            found.append(f"{config.protocol}.heartbeat_ms ({options.heartbeat_ms:g} ms) plus the mean "
                         f"one-way latency ({one_way:g} ms) reaches the election timeout ({low:g} ms): "
                         "followers will time out between heartbeats")
    if config.workload.timeout_ms < round_trip:
        found.append(f"workload.timeout_ms ({config.workload.timeout_ms:g} ms) is under the mean round "
                     f"trip ({round_trip:g} ms): most replicated operations will time out (info)")
    return found


def _drift_beyond_bound(config: ExperimentConfig) -> list[str]:
    """Leases (Raft thesis §6.4.1, Paxos leases) are safe only while every clock's rate
    error stays within `max_clock_drift`; a constant offset does not matter to them, as
    a lease is timed by durations on one clock. A protocol that bounds offsets instead
    would declare `max_clock_offset_ms`."""
    options = config.protocol_options()
    found = []
    bound = getattr(options, "max_clock_drift", None)
    offset_bound = getattr(options, "max_clock_offset_ms", None)
    for i, clock in enumerate(config.faults.clocks):
        if bound is not None and abs(clock.drift) > bound:
            found.append(f"faults.clocks[{i}].drift ({clock.drift:g}) exceeds {config.protocol}.max_clock_drift "
                         f"({bound:g}): the run is outside the protocol's model (leases assume the bound)")
        if offset_bound is not None and abs(clock.offset_ms) > offset_bound:
            found.append(f"faults.clocks[{i}].offset_ms ({clock.offset_ms:g}) exceeds "
                         f"{config.protocol}.max_clock_offset_ms ({offset_bound:g}): outside the protocol's model")
    return found


# ---------------------------------------------------------------- from the result
def result_warnings(config: ExperimentConfig, trace: Sequence[Mapping[str, Any]],
                    summary: Mapping[str, Any]) -> list[str]:
    found = []
    if not summary.get("ops"):
        found.append("no operations in the history: nothing was measured or checked (verdict 'empty')")
    elif summary.get("verdict") == "unknown":
        found.append(f"the linearizability check ran out of its budget (check.max_seconds = "
                     f"{config.check.max_seconds:g} s): verdict unknown")
    if config.protocol in _LEADER_PROTOCOLS:
        found.extend(_no_leader(config, trace))
    return found


def _no_leader(config: ExperimentConfig, trace: Sequence[Mapping[str, Any]]) -> list[str]:
    from workbench.analysis.leadership import (
        blocked_intervals,
        effective_tenures,
        leader_tenures,
        leaderless_intervals,
    )
    from workbench.analysis.trace import trace_frame

    end = config.duration_ms
    frame = trace_frame(trace)
    if frame.empty:
        return []
    gaps = leaderless_intervals(effective_tenures(leader_tenures(frame, end), blocked_intervals(frame, end)), end)
    quiet = _subtract([(float(a), float(b)) for a, b in gaps[["start", "end"]].itertuples(index=False)],
                      _fault_windows(trace, end))
    if not quiet:
        return []
    start, stop = max(quiet, key=lambda span: span[1] - span[0])
    timeout = config.protocol_options().election_timeout_max_ms
    if stop - start <= NO_LEADER_TIMEOUTS * timeout:
        return []
    never = gaps["elected"].eq(False).any() and len(gaps) == 1 and gaps["start"].iloc[0] == 0
    what = "no leader was ever elected:" if never else "no leader for"
    return [f"{what} {(stop - start) / 1000:.1f} s ({start / 1000:.1f}-{stop / 1000:.1f} s) with no "
            f"fault active: more than {NO_LEADER_TIMEOUTS} election timeouts ({timeout:g} ms); "
            "are the timeouts long enough for the latency?"]


def _fault_windows(trace: Sequence[Mapping[str, Any]], end: float) -> list[tuple[float, float]]:
    """When any scheduled fault was active: from its start record to its end (or the run's)."""
    opened: dict[Any, float] = {}
    windows = []
    for record in trace:
        kind, fault = record.get("kind"), record.get("fault_id")
        if fault is None:
            continue  # a protocol's own record (a leader's crash is also traced by the fault)
        if kind in _FAULT_START:
            opened[(_FAULT_START[kind], fault)] = float(record["time"])
        elif kind in _FAULT_END and (key := (_FAULT_END[kind], fault)) in opened:
            windows.append((opened.pop(key), float(record["time"])))
    windows.extend((start, end) for start in opened.values())
    return windows


def _subtract(spans: list[tuple[float, float]], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """`spans` with every `holes` interval cut out."""
    for hole_start, hole_end in holes:
        pieces = []
        for start, stop in spans:
            if hole_end <= start or hole_start >= stop:
                pieces.append((start, stop))
                continue
            if hole_start > start:
                pieces.append((start, hole_start))
            if hole_end < stop:
                pieces.append((hole_end, stop))
        spans = pieces
    return spans
