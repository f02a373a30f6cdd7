"""The fault model as data: pydantic models of the `faults:` and link sections of an experiment file.

Units: schedule times (`at`, `duration`, `every`, `mean_interval`, ...) are SECONDS, as a
person writes them; latencies are MILLISECONDS (fields ending in `_ms`, or `ms`).
The evaluation code (`links`, `schedule`, `network`) works in milliseconds.

Every model forbids unknown fields so a misspelled key (`duraton:`) is an error, not a
silently ignored setting. Checks that need the cluster size live in
`FaultsConfig.check_nodes`, because the size is only known once the whole experiment
file is read.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, Field, model_validator

from workbench.errors import ConfigError

# The latency models live in latency_spec; re-exported here, where the rest of the fault spec is.
from workbench.faults.latency_spec import (
    _STRICT,
    LATENCY_ADAPTER as LATENCY_ADAPTER,
    ConstantLatency as ConstantLatency,
    ExponentialLatency as ExponentialLatency,
    LatencySpec as LatencySpec,
    LognormalLatency as LognormalLatency,
    MixtureComponent as MixtureComponent,
    MixtureLatency as MixtureLatency,
    ParetoLatency as ParetoLatency,
    UniformLatency as UniformLatency,
    _default_latency,
)

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


WarsPreset: TypeAlias = Literal["LNKD-SSD", "LNKD-DISK", "YMMR", "WAN"]
"""The production fits of Bailis et al. 2012 (PBS, §5), built in `workbench.faults.wars`."""


class WarsSpec(BaseModel):
    """The WARS latency model (Bailis et al. 2012, "PBS", §4.2): one distribution per
    message kind — write request (W), write ack (A), read request (R), read response (S).

    A protocol tags a message class with `wars_kind` (one of the four names below);
    untagged messages (anti-entropy, hints) keep the link's `latency`. A kind left
    unset takes the preset's distribution, else the link's `latency`. `remote_ms` is
    added to every message between two different nodes (the paper's WAN scenario:
    75 ms between datacenters, none for the coordinator's own replica).
    """

    model_config = _STRICT

    preset: WarsPreset | None = Field(None, description="the paper's fitted production latencies "
                                                       "(Table 3): LNKD-SSD, LNKD-DISK, YMMR, WAN")
    write_request: LatencySpec | None = Field(None, description="W: coordinator to replica, a write")
    ack: LatencySpec | None = Field(None, description="A: replica to coordinator, a write's ack")
    read_request: LatencySpec | None = Field(None, description="R: coordinator to replica, a read")
    response: LatencySpec | None = Field(None, description="S: replica to coordinator, a read's reply")
    remote_ms: float | None = Field(default=None, ge=0.0,
                                    description="added to every message between two different nodes")


class LinkSpec(BaseModel):
    """How every link between two nodes behaves when no partition cuts it."""

    model_config = _STRICT

    latency: LatencySpec = Field(default_factory=_default_latency)
    loss: Probability = Field(0.0, description="probability that a message is dropped")
    duplicate: Probability = Field(0.0, description="probability that a message is delivered twice")
    reorder: Probability = Field(0.0, description="probability that a message is held back reorder_delay_ms so later ones overtake it")
    # The extra delay must exceed the latency spread for later messages to overtake.
    reorder_delay_ms: float = Field(default=20.0, ge=0.0, description="extra delay of a reordered message")
    # Per-message-kind latencies (PBS's WARS); None keeps one distribution for all.
    wars: WarsSpec | None = Field(None, description="per-message-kind latencies (PBS's WARS model: "
                                                    "write, ack, read, response), or a named preset")


# --------------------------------------------------------------------------- timing


class _Timed(BaseModel):
    """`at`/`duration`/`repeat`/`every`, shared by partitions and node faults.

    The k-th repetition (k = 0..repeat-1) starts at `at + k*every` and lasts `duration`.
    """

    model_config = _STRICT

    at: float = Field(ge=0.0, description="start, in seconds after the run starts")
    duration: float | None = Field(default=None, gt=0.0, description="how long it lasts (a node fault: until restart or resume); null: to the end of the run")
    repeat: int = Field(default=1, ge=1, description="how many times it happens (flapping)")
    every: float | None = Field(default=None, gt=0.0, description="seconds between the starts of repetitions (repeat > 1)")

    @model_validator(mode="after")
    def _flapping(self) -> _Timed:
        if self.repeat > 1:
            if self.duration is None:
                raise ValueError(
                    "repeat > 1 needs a duration (a fault that never ends cannot repeat)"
                )
            if self.every is None:
                raise ValueError("repeat > 1 needs every (seconds between starts)")
            # Overlapping repetitions of one fault would make its end ambiguous.
            if self.every <= self.duration:
                raise ValueError(f"every ({self.every}) must exceed duration ({self.duration})")
        elif self.every is not None:
            raise ValueError("every only makes sense with repeat > 1")
        return self


# --------------------------------------------------------------------------- partitions

PartitionShape: TypeAlias = Literal[
    "halves",
    "majority-minority",
    "isolate",
    "bridge",
    "majorities-ring",
    "random-halves",
    "groups",
    "one-way",
]

NemesisShape: TypeAlias = Literal[
    "halves", "majority-minority", "isolate", "bridge", "majorities-ring", "random-halves"
]
"""Shapes that need no explicit node lists, so a random nemesis can draw them."""

DEFAULT_NEMESIS_SHAPES: tuple[NemesisShape, ...] = (
    "halves",
    "isolate",
    "bridge",
    "majorities-ring",
    "random-halves",
)

NodeTarget: TypeAlias = int | Literal["random", "leader"]
"""A node id, a node drawn at random when the fault starts, or the leader at that moment."""


AIMABLE_SHAPES: tuple[PartitionShape, ...] = (
    "isolate", "halves", "majority-minority", "random-halves", "bridge")
"""Shapes that take a `node` to aim at (a node id, "random" or "leader")."""


class PartitionSpec(_Timed):
    """One scheduled partition. See `workbench.faults.partitions` for what each shape cuts."""

    shape: PartitionShape = Field(description="which nodes are cut apart (workbench/faults/partitions.py)")
    # For `isolate`: the node cut off; None there means "random" (normalised below).
    # For `halves`/`majority-minority`/`random-halves`: a node put on the minority
    # side; for `bridge`: a node at one end (cut from the other half). Lets a nemesis
    # aim any of these shapes at the current leader (issue 11).
    node: NodeTarget | None = Field(
        None, description="the node aimed at (a node id, random, or the leader at that moment): "
                          "isolate cuts it off; halves/majority-minority/random-halves put it on the "
                          "minority side; bridge puts it at one end")
    # Hold, as TCP would: messages the cut would drop are kept and delivered when this
    # partition heals (sim only), so old-term messages arrive long after they were sent.
    hold: bool = Field(False, description="keep the messages the cut would drop and deliver them "
                                          "at the heal, as TCP would (simulator only)")
    # For `groups` only: nodes not listed form one more group.
    groups: list[list[int]] | None = Field(None, description="groups only: lists of node ids; unlisted nodes form one more group")
    # For `one-way` only: messages from `from` nodes to `to` nodes are dropped.
    from_: list[int] = Field(default_factory=list, alias="from", description="one-way only: messages from these nodes ...")
    to: list[int] = Field(default_factory=list, description="one-way only: ... to these nodes are dropped")

    @model_validator(mode="after")
    def _fields_match_shape(self) -> PartitionSpec:
        shape = self.shape
        if shape == "isolate":
            if self.node is None:
                self.node = "random"
        elif self.node is not None and shape not in AIMABLE_SHAPES:
            raise ValueError(f"node is only used by shapes {', '.join(AIMABLE_SHAPES)}, not {shape!r}")
        if shape == "groups":
            if not self.groups:
                raise ValueError("shape 'groups' needs groups: a list of node lists")
            if any(not g for g in self.groups):
                raise ValueError("groups: a group must not be empty")
        elif self.groups is not None:
            raise ValueError(f"groups is only used by shape 'groups', not {shape!r}")
        if shape == "one-way":
            if not self.from_ or not self.to:
                raise ValueError("shape 'one-way' needs non-empty from and to node lists")
        elif self.from_ or self.to:
            raise ValueError(f"from/to are only used by shape 'one-way', not {shape!r}")
        return self


# --------------------------------------------------------------------------- nemesis


class NemesisSpec(BaseModel):
    """A Jepsen-style random nemesis: one fault at a time, exponential gaps and durations.

    Faults are drawn between `start` and `stop`; a fault still running at `stop` is cut
    short there, so the quiet tail after `stop` lets the cluster heal and converge
    before the run ends (what Jepsen's final "heal and read" phase is for).
    """

    model_config = _STRICT

    mean_interval: float = Field(gt=0.0, description="mean gap between faults (exponentially distributed)")
    mean_duration: float = Field(gt=0.0, description="mean length of a fault (exponentially distributed)")
    start: float = Field(default=0.0, ge=0.0, description="no faults before this")
    # None: QUIET_TAIL_S before the run ends.
    stop: float | None = Field(default=None, gt=0.0, description="no faults after this; null: 5 s before the run ends")
    shapes: list[NemesisShape] = Field(default_factory=lambda: list(DEFAULT_NEMESIS_SHAPES),
                                       description="partition shapes to draw from")
    crash: bool = Field(False, description="also crash and restart random nodes")
    pause: bool = Field(False, description="also pause and resume random nodes")

    @model_validator(mode="after")
    def _sane(self) -> NemesisSpec:
        if self.stop is not None and self.stop <= self.start:
            raise ValueError(f"stop ({self.stop}) must be after start ({self.start})")
        if not self.shapes and not self.crash and not self.pause:
            raise ValueError("nothing to do: shapes is empty and crash/pause are off")
        return self


QUIET_TAIL_S = 5.0
"""Default gap between the nemesis' stop and the end of the run (seconds)."""


# --------------------------------------------------------------------------- nodes, clocks


CrashPoint = Literal["after_persist", "mid_persist", "before_reply", "after_send"]
"""Where inside a step a crash lands (issue 12; `runtime.driver` carries them out)."""


class NodeFaultSpec(_Timed):
    """Crash (volatile state lost, durable state kept) or pause (state kept, frozen).

    `duration` is the time until restart / resume; None means the node stays down.
    """

    kind: Literal["crash", "pause"] = Field(description="crash: volatile state lost, durable kept; pause: frozen")
    node: NodeTarget = Field(description="a node id, random, or the leader at that moment")
    point: CrashPoint | None = Field(
        None, description="crash only (sim only; elsewhere a plain crash): land inside the node's first step "
        "at or after `at` that has this point: after_persist (its writes durable, none of its sends or "
        "replies out), mid_persist (a prefix of its records durable, the rest and everything after lost), "
        "before_reply (its writes and sends out, its replies lost), after_send (disk model only: a step that "
        "writes and sends, carried out as usual, the crash at its end before its fsync completes); none by "
        "`at + duration`: no crash")
    record: str | None = Field(
        None, min_length=1, description="mid_persist only: land only in a step that writes the record of this "
        "name (e.g. `snapshot`: Raft's InstallSnapshot, not an election's term and votes)")

    @model_validator(mode="after")
    def _point_is_a_crash(self) -> NodeFaultSpec:
        if self.point is not None and self.kind != "crash":
            raise ValueError(f"point: {self.point!r} is a crash point; kind is {self.kind!r}")
        if self.point is not None and self.duration is None:
            raise ValueError("a crash point needs a duration (the window it may land in)")
        if self.record is not None and self.point != "mid_persist":
            raise ValueError("record: names the step of a mid_persist crash point")
        return self


class ClockSpec(BaseModel):
    """A node's clock: local = offset_ms + true * (1 + drift)."""

    model_config = _STRICT

    node: int = Field(ge=0, description="the node whose clock this is")
    offset_ms: float = Field(0.0, description="constant offset of the node's clock from true time")
    # drift <= -1 would stop the clock or run it backwards.
    drift: float = Field(default=0.0, gt=-1.0, description="rate error: 0.01 runs 1% fast, -0.01 1% slow")


class ClockChangeSpec(BaseModel):
    """A clock fault mid-run (sim only): at `at` seconds the node's clock jumps by
    `jump_ms` (an NTP step, forwards or back) and, if given, starts to drift at `drift`.
    The clock stays continuous apart from the jump."""

    model_config = _STRICT

    at: float = Field(ge=0.0, description="when the clock changes, in s from the run's start")
    node: int = Field(ge=0, description="the node whose clock changes")
    jump_ms: float = Field(0.0, description="step the clock by this much, forwards (+) or back (-)")
    drift: float | None = Field(default=None, gt=-1.0,
                                description="new rate error from then on (0.01 = 1% fast); null keeps it")


class LinkFaultSpec(_Timed):
    """A window of bad links (sim only): messages sent while it lasts on links to or from
    `nodes` (every link if empty) are held back an extra uniform(`delay_low_ms`,
    `delay_high_ms`) with probability `delay_p` (the rest are not, so late copies are
    overtaken: reordering), and duplicated with probability `duplicate`."""

    nodes: list[int] = Field(default_factory=list,
                             description="links to or from these nodes go bad (every link if empty)")
    delay_low_ms: float = Field(default=0.0, ge=0.0, description="least extra delay of a held-back message")
    delay_high_ms: float = Field(default=0.0, ge=0.0, description="most extra delay of a held-back message")
    delay_p: Probability = Field(1.0, description="share of messages held back (the rest overtake them)")
    duplicate: Probability = Field(0.0, description="chance that a message is also sent a second time")

    @model_validator(mode="after")
    def _ordered(self) -> LinkFaultSpec:
        if self.delay_high_ms < self.delay_low_ms:
            raise ValueError(f"delay_high_ms ({self.delay_high_ms}) must be >= delay_low_ms ({self.delay_low_ms})")
        return self


# --------------------------------------------------------------------------- disk (issue 12)
# See workbench/faults/disk.py for what the runtime does with it.

DiskPreset = Literal["ssd", "spinning"]

# fsync latency of the presets: a datacenter NVMe/SATA SSD ~0.1-1 ms, a 7,200 rpm disk
# ~5-15 ms (one rotation is 8.3 ms; a flush needs about half to one and a half turns).
PRESETS: dict[str, UniformLatency] = {
    "ssd": UniformLatency(low_ms=0.1, high_ms=1.0),
    "spinning": UniformLatency(low_ms=5.0, high_ms=15.0),
}


class DiskSpec(BaseModel):
    """`faults.disk`: how long an fsync takes and what a crash does to unsynced writes."""

    model_config = _STRICT

    preset: DiskPreset | None = Field(
        None, description="fsync latency preset: ssd (uniform 0.1-1 ms) or spinning (uniform 5-15 ms)")
    fsync: LatencySpec | None = Field(
        None, description="fsync latency distribution (ms); overrides `preset`; neither: the ssd preset")
    group_commit: bool = Field(
        False, description="writes that arrive during an fsync share the next one (one fsync per group)")
    torn_writes: bool = Field(
        False, description="a crash keeps a random prefix of the records of the oldest unsynced persist")
    lying_fsync: bool = Field(
        False, description="negative control: fsync is acknowledged at once, the write is durable lie_ms later")
    lie_ms: float = Field(
        1000.0, gt=0.0, description="with lying_fsync, how long an acknowledged write can still be lost")

    def fsync_latency(self) -> LatencySpec:
        if self.fsync is not None:
            return self.fsync
        return PRESETS[self.preset or "ssd"]



# --------------------------------------------------------------------------- faults section


class FaultsConfig(BaseModel):
    """The `faults:` section of an experiment file."""

    model_config = _STRICT

    partitions: list[PartitionSpec] = Field(default_factory=list)
    nemesis: NemesisSpec | None = None
    nodes: list[NodeFaultSpec] = Field(default_factory=list)
    clocks: list[ClockSpec] = Field(default_factory=list)
    clock_changes: list[ClockChangeSpec] = Field(default_factory=list)
    links: list[LinkFaultSpec] = Field(default_factory=list)
    disk: DiskSpec | None = Field(
        None, description="disk model: fsync latency and what a crash loses; absent: writes durable at once")

    def check_nodes(self, n: int) -> None:
        """Reject node ids outside 0..n-1 and overlapping groups, as one ConfigError line."""
        span = f"nodes are 0..{n - 1}" if n > 0 else "there are no nodes"

        def node_ok(path: str, node: int) -> None:
            if not 0 <= node < n:
                raise ConfigError(f"{path}: node {node} does not exist ({span})")

        for i, p in enumerate(self.partitions):
            path = f"faults.partitions[{i}]"
            if isinstance(p.node, int):
                node_ok(f"{path}.node", p.node)
            if p.groups is not None:
                seen: set[int] = set()
                for group in p.groups:
                    for node in group:
                        node_ok(f"{path}.groups", node)
                        if node in seen:
                            raise ConfigError(
                                f"{path}.groups: node {node} is in more than one group"
                            )
                        seen.add(node)
            for node in p.from_:
                node_ok(f"{path}.from", node)
            for node in p.to:
                node_ok(f"{path}.to", node)
            if p.shape in ("bridge", "majorities-ring") and n < 3:
                raise ConfigError(f"{path}.shape: {p.shape!r} needs at least 3 nodes (have {n})")
        for i, f in enumerate(self.nodes):
            if isinstance(f.node, int):
                node_ok(f"faults.nodes[{i}].node", f.node)
        for i, c in enumerate(self.clock_changes):
            node_ok(f"faults.clock_changes[{i}].node", c.node)
        for i, lf in enumerate(self.links):
            for node in lf.nodes:
                node_ok(f"faults.links[{i}].nodes", node)
        owner: dict[int, int] = {}
        for i, c in enumerate(self.clocks):
            node_ok(f"faults.clocks[{i}].node", c.node)
            if c.node in owner:
                raise ConfigError(
                    f"faults.clocks[{i}].node: node {c.node} already has a clock "
                    f"(faults.clocks[{owner[c.node]}])"
                )
            owner[c.node] = i
