"""The explorer's world: the scenario runner's `World` plus what exploration adds.

Every transition is a scenario directive (`deliver #7`, `advance 12.5`, `crash 1`,
`client 0 write x 1`, ...) run by the scenario runner's own command table, so a path
from the initial state *is* a scenario script: the counterexample replays with
`python -m workbench.scenario FILE` by construction, with the same message ids, the
same rng draws and the same timer deadlines (DESIGN.md, "Systematic exploration").

Time abstraction (issue 13 item 2): a global clock moves only by `advance` to the
earliest armed timer deadline, so timers fire in deadline order and never early. A
message may be delivered at any instant between its send and `max_latency_ms` later:
time may not pass the latest delivery time of a message still in flight (it must be
delivered or dropped first), so drift and lease bounds keep their meaning. Messages
to a node that is down, or over a cut link, do not hold time back: they are lost on
arrival anyway.
"""

from __future__ import annotations

import io
import pickle
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from workbench.core.canonical import canonical
from workbench.errors import UserInputError
from workbench.scenario.runner import COMMANDS, World, lease_overlap, matcher
from workbench.scenario.script import Directive


@dataclass(frozen=True)
class Scope:
    """What the explorer may do: cluster, clients, ops and fault budgets."""

    protocol: str
    nodes: int = 3
    clients: int = 2
    ops: int = 2
    options: dict[str, str] = field(default_factory=dict)
    crashes: int = 0
    cuts: int = 0
    drops: int = 0
    pauses: int = 0
    """Pause budget: how many times a node may be paused (its inputs held as data until
    `resume`, as a GC pause or a stopped VM; DESIGN.md, "Systematic exploration")."""
    crash_points: tuple[str, ...] = ()
    """Crash points (scenario/crash_points.py) a crash may also be armed at, from the crash
    budget: `crash N at=POINT` lands inside N's next step that has the point."""
    crash_keep: tuple[int, ...] = (1,)
    """mid_persist: the durable prefixes tried (records kept of the cut write)."""
    crash_record: str | None = None
    """mid_persist: only steps writing this record (as the simulator's `point_record`)."""
    lease_check: bool = False
    """Raft with read_mode=lease: also check, after every step, that no node leads a
    higher term while a leader still holds its lease (`lease_overlap`) — the lease's
    own safety property, so a broken vote rule is caught when the new leader is
    elected, without the write and late read a stale read needs on top."""
    max_latency_ms: float = 10.0
    seed: int = 0
    fifo: bool = True
    """Links deliver in send order (only the oldest message of each directed link may be
    delivered or dropped): TCP-like channels, a large cut in branching. Off explores
    reordering on a link as well."""
    horizon_ms: float | None = None
    """Time may not pass this instant (a boundary, as Stateright's `within_boundary`):
    timers due later never fire, so a scope without faults has a finite, closed state
    space instead of heartbeats forever."""
    prefix: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Directives run before exploring (a scenario's opening, e.g. a stable leader): the
    search starts from where they leave the cluster, and a counterexample includes them."""

    def cluster_directive(self) -> Directive:
        kwargs = {"nodes": str(self.nodes), "seed": str(self.seed), **self.options}
        return Directive(1, "cluster", [self.protocol], kwargs, [])

    def op(self, process: int, index: int) -> list[str]:
        """Client `process`'s op number `index`: writes of unique values, then reads.

        Even ops write (value 10*process + index + 1, unique in the history so the
        checker can tell writes apart), odd ops read; all on one key. Process p sits at
        node p mod nodes: with more clients than nodes, some node has two.
        """
        node = process % self.nodes
        named = [] if node == process else [f"process={process}"]
        if index % 2 == 0:
            return [str(node), "write", "x", str(10 * process + index + 1), *named]
        return [str(node), "read", "x", *named]


@dataclass
class State:
    """One explored state: the world and the exploration's own bookkeeping."""

    world: World
    sent_at: dict[int, float] = field(default_factory=dict)  # in-flight message id -> send time
    crashes: int = 0
    cuts: int = 0
    drops: int = 0
    next_op: list[int] = field(default_factory=list)
    # Each node's fingerprint (hash of its canonical state, storage and incarnation),
    # kept between steps: a step touches one node (or a few, for `advance`), so the
    # others' are reused, not rebuilt.
    node_keys: list[int] = field(default_factory=list)
    # Pickled (node, storage) per node index, made once when a first successor of this
    # state needs its own copy of that node (see `successor`).
    blobs: dict[int, bytes] = field(default_factory=dict)
    # Nodes changed since their fingerprint was taken: `state_key` refreshes them, so
    # all key building is timed where the key is built.
    dirty: set[int] = field(default_factory=set)
    pauses: int = 0
    lease_check: bool = False
    # The invariant checker's fields as last keyed: name -> (value, canonical form). A
    # successor starts from its parent's (shared, read only) and re-canonicalizes only
    # the fields that differ (`==`, in C): most steps change none of them.
    checker_parts: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # Links deliver in send order (`Scope.fifo`): then the order of the messages on a
    # link is state (it decides which one may go next), not only which messages fly.
    fifo: bool = False


def node_key(world: World, i: int) -> int:
    """Node i's fingerprint: a 64-bit hash of its canonical state, storage and incarnation.

    Hashing once per change, not once per state key, is what keeps key building cheap:
    Python tuples do not cache their hash, so a state key holding whole node states
    would rehash every log entry of every node on every step.
    """
    node = world.nodes[i]
    return hash((None if node is None else node.canonical_state(), canonical(world.storages[i]._data),
                 world.incarnation[i]))


def as_directive(line: int, command: str, words: list[str]) -> Directive:
    """A directive from its words, `key=value` words as keyword arguments (as parsed from a file)."""
    return Directive(line, command, [w for w in words if "=" not in w],
                     dict(w.split("=", 1) for w in words if "=" in w), [])


READ_ONLY = frozenset({"status", "inflight", "check"})
NOT_IN_PREFIX = frozenset({"cluster"})  # the scope makes the cluster


def prefix_from_script(directives: list[Directive], steps: int | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The first `steps` state-changing directives of a scenario, after its `cluster` line."""
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for d in directives[1:]:
        if steps is not None and len(chosen) >= steps:
            break
        if d.command in READ_ONLY:
            continue
        if d.command in NOT_IN_PREFIX:
            raise UserInputError(f"line {d.line}: {d.command!r} cannot be part of an exploration prefix")
        words = [*d.args, *(f"{k}={v}" for k, v in d.kwargs.items())]
        chosen.append((d.command, tuple(words)))
    return tuple(chosen)


def initial_state(scope: Scope) -> State:
    world = World()
    COMMANDS["cluster"](world, scope.cluster_directive())
    state = State(world, next_op=[0] * scope.clients, lease_check=scope.lease_check and scope.protocol == "raft",
                  fifo=scope.fifo)
    state.node_keys = [node_key(world, i) for i in range(scope.nodes)]
    _stamp_new_messages(state, 0)
    for command, args in scope.prefix:
        apply(state, command, list(args))
    return state


def _stamp_new_messages(state: State, before: int) -> None:
    now = state.world.now
    for m in state.world.flight:
        if m.id > before:
            state.sent_at[m.id] = now


def _thaw_rng(state: tuple[Any, ...]) -> random.Random:
    # `Random()` seeds itself from os.urandom before `setstate` overwrites it: ~60 us
    # wasted per node copy. Seeding with 0 through `__new__` costs ~10 us.
    rng = random.Random.__new__(random.Random, 0)
    rng.setstate(state)
    return rng


# Objects every node of a world shares and never changes (the options): pickled as a
# reference into this table, not copied. Held strongly, so an id is never reused.
_SHARED: dict[int, Any] = {}


def _shared(key: int) -> Any:
    return _SHARED[key]


def _reduce_random(rng: random.Random) -> Any:
    return _thaw_rng, (rng.getstate(),)


def _dumps(value: Any, shared: Any) -> bytes:
    """Pickle a node without its shared, immutable options and with a cheap rebuild of
    its rng. A `dispatch_table` (looked up in C, per type) does it: the old
    `reducer_override` was a Python call for every object pickled (~15% of copying)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    table: dict[type, Any] = {random.Random: _reduce_random}
    if shared is not None:
        _SHARED.setdefault(id(shared), shared)

        def reduce_shared(obj: Any) -> Any:
            if obj is shared:
                return _shared, (id(obj),)
            return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)  # another object of that type
        table[type(shared)] = reduce_shared
    pickler.dispatch_table = table
    pickler.dump(value)
    return buffer.getvalue()


def _loads(blob: bytes) -> Any:
    return pickle.loads(blob)


def copy_state(blob: bytes) -> State:
    """A state from `freeze` (a full deep copy; the search itself uses `successor`)."""
    state: State = pickle.loads(blob)
    return state


def freeze(state: State) -> bytes:
    state.world.out = []
    state.blobs = {}
    state.checker_parts = {}
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def touched_nodes(world: World, command: str, args: list[str]) -> list[int]:
    """The nodes whose state (or storage) `command` may change: only they are copied.

    A delivery changes its receiver, a client op its node, a restart the node's
    storage; `advance` changes exactly the nodes with a timer due by the new time (a
    node's timer can only arm that node's timers, so nothing cascades to others).
    Crash, drop, cut and heal change no node object (a crash drops the reference).
    """
    if command == "deliver":
        if len(args) == 1 and args[0].startswith("#"):  # the explorer's own `deliver #N`
            wanted = int(args[0][1:])
            return [m.dst for m in world.flight if m.id == wanted]
        match = matcher(args)  # a prefix's `deliver FILTER`
        return sorted({m.dst for m in world.flight if not m.held and match(m)})
    if command in ("client", "restart", "resume"):
        return [int(args[0])]
    if command == "advance":
        end = world.now + float(args[0])
        return [i for i, timers in enumerate(world.timers) if any(at <= end for at in timers.values())]
    if command in ("crash", "drop", "cut", "heal", "pause"):
        return []
    return list(range(len(world.nodes)))


def _copy_checker(checker: Any) -> Any:
    """The invariant checker's memory, one level deep: its dicts, lists and sets are
    copied, their values (ints, tuples, frozen ballots and values) shared. (What
    `copy.copy` then a copy per container did, without `copy`'s generic reduce path.)"""
    if checker is None:
        return None
    kind = type(checker)
    twin = kind.__new__(kind)
    slots = getattr(kind, "__slots__", None)
    if slots is None:
        twin.__dict__.update({name: value.copy() if isinstance(value, dict | list | set) else value
                              for name, value in vars(checker).items()})
        return twin
    for name in slots:
        value = getattr(checker, name, _ABSENT)
        if value is not _ABSENT:
            setattr(twin, name, value.copy() if isinstance(value, dict | list | set) else value)
    return twin


_ABSENT: Any = object()


def _checker_fields(checker: Any) -> list[tuple[str, Any]]:
    """The checker's fields as `canonical` sees a plain object's: `__dict__`, or its slots that are set."""
    slots = getattr(type(checker), "__slots__", None)
    if slots is None:
        return list(vars(checker).items())
    return [(name, value) for name in slots if (value := getattr(checker, name, _ABSENT)) is not _ABSENT]


def successor(parent: State, command: str, args: list[str]) -> State:
    """The state after `command`, leaving `parent` untouched (copy on write).

    Explored states are never mutated once in the frontier, so a successor shares
    every node object its step does not touch and deep-copies (pickles) only the
    touched ones, with their storage. The world's own containers are copied one level
    deep; in-flight messages are immutable here (the explorer never holds or delays).
    The invariant checkers only write to a node they find changed since their last
    look, which an untouched node is not.
    """
    w = parent.world
    touched = touched_nodes(w, command, args)
    world = World.__new__(World)  # copy.copy without its generic reduce path
    world.__dict__.update(w.__dict__)
    world.nodes, world.storages = list(w.nodes), list(w.storages)
    world.incarnation, world.paused = list(w.incarnation), list(w.paused)
    world.pending = [list(held) for held in w.pending]  # held inputs are immutable tuples
    world.timers = [dict(t) for t in w.timers]
    world.offset, world.rate = list(w.offset), list(w.rate)
    world.flight, world.cut, world.history = list(w.flight), set(w.cut), list(w.history)
    world.armed = list(w.armed)  # armed crash points are frozen
    world.out = []
    world.invariants = _copy_checker(w.invariants)
    for i in touched:
        blob = parent.blobs.get(i)
        if blob is None:
            blob = parent.blobs[i] = _dumps((w.nodes[i], w.storages[i]), w.options)
        world.nodes[i], world.storages[i] = _loads(blob)
    child = State(world, dict(parent.sent_at), parent.crashes, parent.cuts, parent.drops,
                  list(parent.next_op), list(parent.node_keys), dirty=set(parent.dirty),
                  pauses=parent.pauses, lease_check=parent.lease_check, fifo=parent.fifo)
    apply(child, command, args)
    child.checker_parts = parent.checker_parts  # compared against, never changed (`state_key`)
    return child


def _pending(world: World, process: int) -> bool:
    """Has `process` an invoked op without its ok/fail yet? (a crash leaves it pending forever)"""
    for event in reversed(world.history):
        if event["process"] == process:
            return bool(event["type"] == "invoke")
    return False


def _time_bound(state: State, scope: Scope) -> float:
    """The latest instant time may reach: no message still in flight may outlive its latency."""
    world = state.world
    bound = float("inf")
    for m in world.flight:
        if world.nodes[m.dst] is None or (m.src, m.dst) in world.cut:
            continue  # lost on arrival whatever happens
        bound = min(bound, state.sent_at.get(m.id, world.now) + scope.max_latency_ms)
    return bound


def enabled(state: State, scope: Scope) -> list[tuple[str, list[str]]]:
    """Every transition from `state`, as scenario commands (command, args)."""
    world = state.world
    events: list[tuple[str, list[str]]] = []
    movable = world.flight
    if scope.fifo:
        heads: dict[tuple[int, int], Any] = {}
        for m in world.flight:  # in send order
            heads.setdefault((m.src, m.dst), m)
        movable = list(heads.values())
    for m in movable:
        events.append(("deliver", [f"#{m.id}"]))
    if state.drops < scope.drops:
        for m in movable:
            events.append(("drop", [f"#{m.id}"]))
    deadlines = [at for timers in world.timers for at in timers.values()]
    if deadlines:
        due = min(deadlines)
        if due <= _time_bound(state, scope) and (scope.horizon_ms is None or due <= scope.horizon_ms):
            events.append(("advance", [repr(max(0.0, due - world.now))]))
    for i, node in enumerate(world.nodes):
        if node is None:
            events.append(("restart", [str(i)]))
        elif state.crashes < scope.crashes:
            events.append(("crash", [str(i)]))
            if not world.armed[i]:
                events.extend(("crash", [str(i), *words]) for words in _crash_point_words(scope))
    for i, node in enumerate(world.nodes):
        if node is not None and world.paused[i]:
            events.append(("resume", [str(i)]))
        elif node is not None and state.pauses < scope.pauses:
            events.append(("pause", [str(i)]))
    if world.cut:
        events.append(("heal", []))
    elif state.cuts < scope.cuts:
        for a in range(scope.nodes):
            for b in range(a + 1, scope.nodes):
                events.append(("cut", [str(a), str(b)]))
    for process in range(scope.clients):
        if state.next_op[process] < scope.ops and not _pending(world, process):
            words = scope.op(process, state.next_op[process])
            events.append(("client", words))
    return events


def _crash_point_words(scope: Scope) -> list[list[str]]:
    """The `at=POINT ...` words of every crash point the scope arms."""
    options: list[list[str]] = []
    for point in scope.crash_points:
        if point != "mid_persist":
            options.append([f"at={point}"])
            continue
        aimed = [f"record={scope.crash_record}"] if scope.crash_record else []
        options.extend([f"at={point}", f"keep={keep}", *aimed] for keep in scope.crash_keep)
    return options


def apply(state: State, command: str, args: list[str]) -> None:
    """Run one transition in place, through the scenario runner's command table."""
    world = state.world
    world.out = []
    state.blobs = {}  # copies made from the old state would be stale
    state.checker_parts = {}  # its values may be the ones this step changes in place
    before = world.next_id
    touched = touched_nodes(world, command, args)
    if command == "crash":
        touched = [int(args[0])]
    directive = as_directive(0, command, args)
    COMMANDS[command](world, directive)
    state.dirty.update(touched)
    _stamp_new_messages(state, before)
    if command == "drop":
        state.drops += 1
    elif command == "crash":
        state.crashes += 1
    elif command == "cut":
        state.cuts += 1
    elif command == "pause":
        state.pauses += 1
    elif command == "client":
        process = int(directive.kwargs.get("process", args[0]))
        if process < len(state.next_op):
            state.next_op[process] += 1
    if state.lease_check:
        problem = lease_overlap(world)
        if problem:
            world.out.append(f"  INVARIANT VIOLATED: {problem}")
    live = {m.id for m in world.flight}
    for gone in [k for k in state.sent_at if k not in live]:
        del state.sent_at[gone]


def state_key(state: State) -> Any:
    """The canonical state: what makes two explored states the same situation.

    Message ids and absolute send times are left out (a message is its sender,
    receiver and content; its age is kept relative to now), so states reached by
    different paths merge. The client history is kept, because linearizability is a
    property of it.
    """
    world = state.world
    now = world.now
    for i in state.dirty:
        state.node_keys[i] = node_key(world, i)
    state.dirty.clear()
    nodes = tuple(state.node_keys)  # per-node fingerprints (`node_key`)
    flight = _flight_key(state) if state.fifo else frozenset(Counter(
        (m.src, m.dst, _typed(m.message), age(state, m)) for m in world.flight).items())
    timers = tuple(tuple(sorted((name, at - now) for name, at in t.items())) for t in world.timers)
    history = tuple((e["process"], e["type"], e["f"], repr(e["value"])) for e in world.history)
    # The invariant checker's memory (who led which term, which value each slot chose)
    # is state too: merging two states that differ only there could hide a violation.
    checker = _checker_key(state)
    key = (now, nodes, checker, flight, timers,
           frozenset(world.cut), state.crashes, state.cuts, state.drops, tuple(state.next_op), history)
    if state.pauses or any(world.paused) or any(world.armed):
        # Paused nodes and what they hold (arrival order matters: it is handed over in
        # that order at `resume`) and armed crash points, only when in play: keys
        # without them are as before.
        held = tuple((paused, canonical(pending))
                     for paused, pending in zip(world.paused, world.pending, strict=True))
        key = (*key, state.pauses, held, tuple(world.armed))
    return key


def age(state: State, m: Any) -> float:
    """How long in-flight message `m` has flown (ms): the key keeps ages, not send times."""
    now = state.world.now
    return now - state.sent_at.get(m.id, now)


def _typed(message: Any) -> tuple[type, Any]:
    """A message with its type: a frozen dataclass hashes its fields alone, so a PreVote
    and a RequestVote of equal fields would share a fingerprint (core/canonical.py).
    The type object hashes by identity, the same all search long: cheaper than
    `canonical`, which rebuilds every field. (Inside a message, entries' commands are
    kept by value: two command types with equal fields in one place would be needed.)"""
    return (type(message), message)


def _flight_key(state: State) -> Any:
    """In-flight messages over FIFO links: each link's messages in send order.

    A multiset would merge two states whose link holds the same messages in another
    order, though only the head of a link may be delivered: their futures differ. (It
    did, until 2026-12-07: the closed FIFO Stateright scope has 13,587 distinct
    states, not the 11,299 the multiset key counted.)"""
    links: dict[tuple[int, int], list[tuple[Any, float]]] = {}
    for m in state.world.flight:  # in send order (ids grow)
        links.setdefault((m.src, m.dst), []).append((_typed(m.message), age(state, m)))
    return frozenset((link, tuple(queue)) for link, queue in links.items())


def _checker_key(state: State) -> Any:
    """`canonical(world.invariants)`, rebuilding only the fields that changed since the
    parent was keyed (the same value: a field equal to the parent's has an equal
    canonical form)."""
    checker = state.world.invariants
    if checker is None:
        return None
    before = state.checker_parts
    parts: dict[str, tuple[Any, Any]] = {}
    for name, value in _checker_fields(checker):
        old = before.get(name)
        if old is not None and (old[0] is value or old[0] == value):
            parts[name] = old
        else:
            parts[name] = (value, canonical(value))
    state.checker_parts = parts
    return (type(checker).__name__, frozenset([(name, form) for name, (_, form) in parts.items()]))


def violation(state: State, check_history: bool) -> str | None:
    """An invariant trip printed by this step, or a non-linearizable history."""
    for line in state.world.out:
        if "INVARIANT VIOLATED" in line:
            return line.strip()
    if check_history:
        from workbench.checkers.linearizability import check_linearizability

        result = check_linearizability(state.world.history, "cas-register")
        if result.verdict != "linearizable":
            return f"history {result.verdict}"
    return None
