"""Replay a scripted scenario (see `script.py`) against the real protocol cores.

The world is a tiny network under the script's full control: every message a node
sends waits in flight, numbered `#N` in send order, until a command delivers, holds,
delays or drops it. Timers fire when `advance` passes their deadline or when `timer`
fires one by name. Nodes crash (keeping only their Storage), restart, pause (inputs
wait) and resume; links are cut one way or both. Clients hand requests to a node and
their invoke/ok/fail/info events form a Jepsen history that `check` verifies.

Commands (one table, as h11 keeps its transitions in tables):
    cluster PROTOCOL nodes=N [seed=S] [option=value ...]
    advance MS                       let MS pass: due timers fire (messages stay in flight)
    timer NODE NAME                  fire NODE's armed timer NAME now
    deliver [FILTER]                 deliver matching in-flight messages once, in send order
    stabilize [FILTER]               deliver until nothing matching is deliverable
    hold FILTER | release FILTER     keep matching messages from delivery / let them go
    delay FILTER MS                  hold matching messages, released after MS
    drop FILTER                      lose matching in-flight messages
    cut A B | cut A>B | heal         cut a link both ways / one way, heal every cut
    crash N | restart N | pause N | resume N
    crash N at=POINT [keep=K] [record=NAME]   die inside N's next step that has POINT
                                     (after_persist, mid_persist, before_reply, after_send)
    clock N [offset=MS] [drift=D]    N's clock reads offset + t * (1 + drift)
    client NODE read KEY | write KEY VALUE | cas KEY OLD NEW
    inflight                         list messages in flight
    status                           each node's role as the protocol reports it
    check                            linearizability of the history so far
    check lease                      also: no node leads a higher term while an older leader's
                                     lease runs (Raft read_mode=lease; the explorer's lease_check)
FILTER is `SRC->DST` or `A<->B` (numbers or `*`), `#ID`, and/or message type names.

Output is deterministic: same file, same output, so a scenario is a regression test.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.core.effects import CancelTimer, Observe, Reply, Send, SetTimer, records_of
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.errors import UserInputError
from workbench.protocols import PROTOCOL_NAMES, node_class, options_class
from workbench.protocols.base import Node
from workbench.runtime.driver import apply_persist
from workbench.scenario.crash_points import CrashPoint, landing, parse_crash_point
from workbench.scenario.script import Directive, Script

_MAX_STABILIZE = 10_000  # deliveries in one `stabilize` before it is called a storm


@dataclass
class InFlight:
    id: int
    src: int
    dst: int
    message: Message
    held: bool = False
    release_at: float | None = None  # `delay`: released once time reaches this


Held = tuple[Any, ...]
"""An input held for a paused node: ("message", src, message), ("timer", name) or
("client", request). Handed over at `resume`, read against the node's clock then (a
paused process sees the time it wakes up at, as after a GC pause)."""


@dataclass
class World:
    protocol: str = ""
    seed: int = 0
    options: Any = None
    factory: Any = None
    now: float = 0.0
    nodes: list[Node | None] = field(default_factory=list)
    storages: list[Storage] = field(default_factory=list)
    incarnation: list[int] = field(default_factory=list)
    paused: list[bool] = field(default_factory=list)
    # Inputs that reached a paused node, in arrival order, as plain data (see `Held`):
    # a world with a paused node copies, pickles and hashes like any other, so the
    # explorer can take `pause`/`resume` as transitions (issue 13).
    pending: list[list[Held]] = field(default_factory=list)
    timers: list[dict[str, float]] = field(default_factory=list)  # name -> deadline (global ms)
    offset: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    flight: list[InFlight] = field(default_factory=list)
    cut: set[tuple[int, int]] = field(default_factory=set)
    next_id: int = 0
    seq: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    invariants: Any = None
    armed: list[CrashPoint | None] = field(default_factory=list)  # `crash N at=POINT`, per node

    # ------------------------------------------------------------ plumbing
    def local(self, i: int) -> float:
        return self.offset[i] + self.now * self.rate[i]

    def boot(self, i: int) -> None:
        rng = random.Random(f"{self.seed}/{i}/{self.incarnation[i]}")
        node = self.factory(i, list(range(len(self.nodes))), self.options, rng, self.storages[i])
        self.nodes[i] = node
        node.start(self.local(i))
        self.collect(i, indent="  ")

    def node(self, i: int) -> Node:
        node = self.nodes[i]
        if node is None:
            raise UserInputError(f"node {i} is down")
        return node

    def collect(self, i: int, indent: str) -> None:
        node = self.nodes[i]
        if node is None:
            return
        effects = node.take_effects()
        armed = self.armed[i] if self.armed else None
        if armed is not None:
            cut = landing(effects, armed)
            if cut is not None:  # the armed crash point is in this step: die inside it
                kept = self.carry_out(i, effects[:cut[0]], indent, keep=cut[1])
                self.out.append(f"{indent}{i} crashed at {armed.describe()} ({kept} records durable)")
                self.crash(i)
                self.check_invariants(indent)
                return
        self.carry_out(i, effects, indent)
        self.check_invariants(indent)

    def check_invariants(self, indent: str) -> None:
        if self.invariants is not None:
            problem = self.invariants.check(self.nodes, self.now)
            if problem:
                self.out.append(f"{indent}INVARIANT VIOLATED: {problem}")

    def carry_out(self, i: int, effects: list[Any], indent: str, *, keep: int = -1) -> int:
        """Carry out node i's effects in outbox order; with `keep` >= 0, stop once that
        many records are durable (a crash point inside a write). Returns records written."""
        storage = self.storages[i]
        written = 0
        for effect in effects:
            records = records_of(effect) if keep >= 0 else None
            if records is not None:
                if written + len(records) >= keep:
                    storage.apply(records[:keep - written])
                    return keep
                storage.apply(records)
                written += len(records)
                continue
            if apply_persist(storage, effect):  # durable at once, in outbox order (no disk model)
                written += len(records_of(effect) or ())
                continue
            if isinstance(effect, Send):
                self.next_id += 1
                if (i, effect.to) in self.cut:
                    self.out.append(f"{indent}{i}->{effect.to} #{self.next_id} "
                                    f"{describe(effect.message)} (cut: dropped)")
                    continue
                self.flight.append(InFlight(self.next_id, i, effect.to, effect.message))
                self.out.append(f"{indent}{i}->{effect.to} #{self.next_id} {describe(effect.message)}")
            elif isinstance(effect, SetTimer):
                self.timers[i][effect.name] = self.now + effect.delay_ms / self.rate[i]
            elif isinstance(effect, CancelTimer):
                self.timers[i].pop(effect.name, None)
            elif isinstance(effect, Reply):
                self.complete(effect, indent)
            elif isinstance(effect, Observe):
                fields = " ".join(f"{k}={v}" for k, v in effect.fields.items())
                self.out.append(f"{indent}{i} {effect.kind} {fields}".rstrip())
        return written

    def crash(self, i: int) -> None:
        """Node i stops: only its Storage survives; what it held or had armed is gone."""
        self.nodes[i] = None
        self.timers[i].clear()
        self.pending[i].clear()
        self.paused[i] = False
        self.incarnation[i] += 1
        if self.armed:
            self.armed[i] = None

    def complete(self, reply: Reply, indent: str) -> None:
        self.history.append({"process": reply.process, "type": reply.type, "f": None,
                             "value": reply.value, "time": self.now})
        invoke = next(e for e in reversed(self.history)
                      if e["process"] == reply.process and e["type"] == "invoke")
        self.history[-1].update(f=invoke["f"], key=invoke["key"])
        if invoke["f"] != "read":
            self.history[-1]["value"] = invoke["value"]
        error = f" ({reply.error})" if reply.error else ""
        self.out.append(f"{indent}reply p{reply.process} {reply.type} {invoke['f']} "
                        f"{invoke['key']}={reply.value!r}{error}")

    def input(self, i: int, held: Held) -> None:
        """Hand an input to node i now, or hold it (as data) while i is paused."""
        if self.nodes[i] is None:
            return
        if self.paused[i]:
            self.pending[i].append(held)
            return
        self.hand(i, held)
        self.collect(i, indent="  ")

    def hand(self, i: int, held: Held) -> None:
        """Give node i one input, at its local time now."""
        node, kind = self.node(i), held[0]
        if kind == "message":
            node.on_message(held[1], held[2], self.local(i))
        elif kind == "timer":
            node.on_timer(held[1], self.local(i))
        else:
            node.on_client_request(held[1], self.local(i))

    def deliver(self, message: InFlight) -> None:
        self.flight.remove(message)
        src, dst = message.src, message.dst
        line = f"{src}->{dst} #{message.id} {describe(message.message)}"
        if self.nodes[dst] is None:
            self.out.append(f"{line} (node {dst} down: lost)")
            return
        if (src, dst) in self.cut:
            self.out.append(f"{line} (cut: dropped)")
            return
        self.out.append(line)
        self.input(dst, ("message", src, message.message))

    def fire(self, i: int, name: str) -> None:
        del self.timers[i][name]
        self.out.append(f"timer {i} {name}")
        self.input(i, ("timer", name))


# ---------------------------------------------------------------- filters
def matcher(words: list[str]) -> Callable[[InFlight], bool]:
    ids: set[int] = set()
    types: set[str] = set()
    src = dst = "*"
    both = False
    for word in words:
        if word.startswith("#"):
            ids.add(_int(word[1:], "message id"))
        elif "<->" in word:
            src, dst = word.split("<->", 1)
            both = True
        elif "->" in word:
            src, dst = word.split("->", 1)
        else:
            types.add(word)

    def ends(a: str, b: str, m: InFlight) -> bool:
        return (a == "*" or int(a) == m.src) and (b == "*" or int(b) == m.dst)

    def match(m: InFlight) -> bool:
        return ((not ids or m.id in ids) and (not types or type(m.message).__name__ in types)
                and (ends(src, dst, m) or (both and ends(dst, src, m))))
    return match


def describe(value: Any) -> str:
    """A compact, deterministic rendering of a message (nested dataclasses included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ", ".join(f"{f.name}={describe(getattr(value, f.name))}"
                          for f in dataclasses.fields(value))
        return f"{type(value).__name__}({inner})"
    if isinstance(value, list | tuple):
        items = [describe(v) for v in value[:4]]
        if len(value) > 4:
            items.append(f"...+{len(value) - 4}")
        body = ", ".join(items)
        if isinstance(value, list):
            return f"[{body}]"
        return f"({body},)" if len(value) == 1 else f"({body})"
    return repr(value)


# ---------------------------------------------------------------- commands
def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserInputError(f"{what}: expected a whole number, got {text!r}") from None


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def cmd_cluster(w: World, d: Directive) -> None:
    if not d.args or d.args[0] not in PROTOCOL_NAMES:
        raise UserInputError(f"cluster: name a protocol ({', '.join(PROTOCOL_NAMES)})")
    kwargs = {k: _value(v) for k, v in d.kwargs.items()}
    n = int(kwargs.pop("nodes", 3))
    w.protocol, w.seed = d.args[0], int(kwargs.pop("seed", 0))
    try:
        w.options = options_class(w.protocol)(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"cluster: bad option: {exc}") from None
    w.factory = node_class(w.protocol)
    w.invariants = getattr(w.factory, "invariant_checker", lambda: None)()
    w.nodes, w.storages = [None] * n, [Storage() for _ in range(n)]
    w.incarnation, w.paused = [0] * n, [False] * n
    w.pending, w.timers = [[] for _ in range(n)], [{} for _ in range(n)]
    w.offset, w.rate = [0.0] * n, [1.0] * n
    w.armed = [None] * n
    for i in range(n):
        w.boot(i)


def cmd_advance(w: World, d: Directive) -> None:
    end = w.now + float(d.args[0])
    while True:
        due = sorted((at, i, name) for i, timers in enumerate(w.timers)
                     for name, at in timers.items() if at <= end)
        released = [m for m in w.flight if m.release_at is not None and m.release_at <= end]
        first_release = min((m.release_at for m in released), default=None)  # type: ignore[type-var]
        if not due and first_release is None:
            break
        if first_release is not None and (not due or first_release <= due[0][0]):
            w.now = max(w.now, first_release)
            for m in released:
                if m.release_at == first_release:
                    m.held, m.release_at = False, None
                    w.out.append(f"released #{m.id}")
            continue
        at, i, name = due[0]
        w.now = max(w.now, at)
        w.fire(i, name)
    w.now = end
    w.out.append(f"now {w.now:g}")


def cmd_timer(w: World, d: Directive) -> None:
    i, name = _int(d.args[0], "timer node"), d.args[1]
    if name not in w.timers[i]:
        raise UserInputError(f"timer: node {i} has no armed timer {name!r}")
    w.fire(i, name)


def cmd_deliver(w: World, d: Directive) -> None:
    match = matcher(d.args)
    for m in [m for m in w.flight if not m.held and match(m)]:
        if m in w.flight:
            w.deliver(m)


def cmd_stabilize(w: World, d: Directive) -> None:
    match = matcher(d.args)
    for _ in range(_MAX_STABILIZE):
        ready = next((m for m in w.flight if not m.held and match(m)), None)
        if ready is None:
            return
        w.deliver(ready)
    raise UserInputError(f"stabilize: still delivering after {_MAX_STABILIZE} messages")


def _mark(w: World, d: Directive, held: bool, release_at: float | None = None) -> None:
    match = matcher(d.args)
    for m in w.flight:
        if match(m):
            m.held, m.release_at = held, release_at
            w.out.append(f"{'held' if held else 'released'} #{m.id}")


def cmd_delay(w: World, d: Directive) -> None:
    _mark(w, Directive(d.line, d.command, d.args[:-1], {}, []), True, w.now + float(d.args[-1]))


def cmd_drop(w: World, d: Directive) -> None:
    match = matcher(d.args)
    for m in [m for m in w.flight if match(m)]:
        w.flight.remove(m)
        w.out.append(f"dropped #{m.id}")


def cmd_cut(w: World, d: Directive) -> None:
    if len(d.args) == 1 and ">" in d.args[0]:
        a, b = d.args[0].split(">", 1)
        w.cut.add((int(a), int(b)))
    else:
        a, b = _int(d.args[0], "cut"), _int(d.args[1], "cut")
        w.cut |= {(a, b), (b, a)}


def cmd_heal(w: World, d: Directive) -> None:
    w.cut.clear()


def cmd_crash(w: World, d: Directive) -> None:
    i = _int(d.args[0], "crash")
    point = parse_crash_point(d.kwargs)
    if point is None:
        w.crash(i)
        return
    if w.nodes[i] is None:
        raise UserInputError(f"crash: node {i} is down (a crash point needs a running node)")
    w.armed[i] = point  # lands inside node i's next step that has the point
    w.out.append(f"armed {i} at {point.describe()}")


def cmd_restart(w: World, d: Directive) -> None:
    i = _int(d.args[0], "restart")
    if w.nodes[i] is not None:
        raise UserInputError(f"restart: node {i} is up")
    w.boot(i)


def cmd_pause(w: World, d: Directive) -> None:
    w.paused[_int(d.args[0], "pause")] = True


def cmd_resume(w: World, d: Directive) -> None:
    i = _int(d.args[0], "resume")
    w.paused[i] = False
    queued, w.pending[i] = w.pending[i], []
    for held in queued:
        w.hand(i, held)
        w.collect(i, indent="  ")


def cmd_clock(w: World, d: Directive) -> None:
    i = _int(d.args[0], "clock")
    w.offset[i] = float(d.kwargs.get("offset", w.offset[i]))
    w.rate[i] = 1.0 + float(d.kwargs.get("drift", w.rate[i] - 1.0))


def cmd_client(w: World, d: Directive) -> None:
    i, f, key = _int(d.args[0], "client node"), d.args[1], d.args[2]
    value: Any = None
    if f == "write":
        value = _value(d.args[3])
    elif f == "cas":
        value = (_value(d.args[3]), _value(d.args[4]))
    elif f != "read":
        raise UserInputError(f"client: unknown op {f!r} (read, write, cas)")
    w.seq += 1
    # One client process per node by default, beside it as in Jepsen; `process=P` names
    # another (two clients at one node: a batch holding a read and a write).
    process = _int(d.kwargs.get("process", str(i)), "client process")
    request = ClientRequest(process, w.seq, f, key, value)  # type: ignore[arg-type]
    w.history.append({"process": process, "type": "invoke", "f": f, "key": key,
                      "value": list(value) if f == "cas" else value, "time": w.now})
    w.out.append(f"invoke p{process} {f} {key} {value!r}")
    w.input(i, ("client", request))


def cmd_inflight(w: World, d: Directive) -> None:
    for m in w.flight:
        state = " (held)" if m.held else ""
        w.out.append(f"{m.src}->{m.dst} #{m.id} {describe(m.message)}{state}")


def cmd_status(w: World, d: Directive) -> None:
    for i, node in enumerate(w.nodes):
        if node is None:
            w.out.append(f"{i}: down")
            continue
        names = getattr(sys.modules[type(node).__module__], "ROLE_NAMES", None)
        role = names[node.role] if names else ("leader" if node.is_leader() else "replica")  # type: ignore[attr-defined]
        term = getattr(node, "term", None)
        paused = " paused" if w.paused[i] else ""
        w.out.append(f"{i}: {role} term={term} leader={node.leader()}{paused}")


def cmd_check(w: World, d: Directive) -> None:
    from workbench.checkers.linearizability import check_linearizability

    result = check_linearizability(w.history, "cas-register")
    w.out.append(result.verdict)
    if d.args == ["lease"]:
        problem = lease_overlap(w)
        w.out.append(f"INVARIANT VIOLATED: {problem}" if problem else "leases ok")
    elif d.args:
        raise UserInputError(f"check: expected nothing or 'lease', got {' '.join(d.args)!r}")


def lease_overlap(world: World) -> str | None:
    """Thesis §6.4.1: a Raft leader serves reads from its lease only while no other node
    can have been elected — a follower that acked the lease's round votes for no one for
    an election timeout (§4.2.3). So a leader of a higher term while an older leader's
    lease still runs (on that leader's own clock) is a stale read waiting to happen."""
    holders = [(i, node.term, until) for i, node in enumerate(world.nodes)
               if node is not None and (until := node.lease_until()) is not None and world.local(i) < until]
    for i, term, until in holders:
        for j, other in enumerate(world.nodes):
            if other is not None and other.is_leader() and other.term > term:
                return (f"lease overlap: node {j} leads term {other.term} while node {i} "
                        f"(term {term}) holds its lease until {until:g}")
    return None


COMMANDS: dict[str, Callable[[World, Directive], None]] = {
    "cluster": cmd_cluster, "advance": cmd_advance, "timer": cmd_timer,
    "deliver": cmd_deliver, "stabilize": cmd_stabilize,
    "hold": lambda w, d: _mark(w, d, True), "release": lambda w, d: _mark(w, d, False),
    "delay": cmd_delay, "drop": cmd_drop, "cut": cmd_cut, "heal": cmd_heal,
    "crash": cmd_crash, "restart": cmd_restart, "pause": cmd_pause, "resume": cmd_resume,
    "clock": cmd_clock, "client": cmd_client, "inflight": cmd_inflight,
    "status": cmd_status, "check": cmd_check,
}


def run_script(script: Script, overrides: dict[str, str] | None = None) -> list[list[str]]:
    """Execute every directive; return what each printed. `overrides` are extra
    `option=value` words added to the `cluster` command (e.g. a `bug=` mutant)."""
    world = World()
    outputs: list[list[str]] = []
    for directive in script.directives:
        handler = COMMANDS.get(directive.command)
        where = f"{script.path}:{directive.line}"
        if handler is None:
            raise UserInputError(f"{where}: unknown command {directive.command!r}")
        if directive.command != "cluster" and not world.nodes:
            raise UserInputError(f"{where}: the first command must be 'cluster'")
        if directive.command == "cluster" and overrides:
            directive = dataclasses.replace(directive, kwargs={**directive.kwargs, **overrides})
        world.out = []
        try:
            handler(world, directive)
        except (IndexError, KeyError) as exc:
            raise UserInputError(f"{where}: {directive.command}: missing or bad argument ({exc})") from None
        except UserInputError as exc:
            raise UserInputError(f"{where}: {exc}") from None
        outputs.append(world.out or ["ok"])
    return outputs
