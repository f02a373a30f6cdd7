"""Sleep sets: skip the second order of two deliveries that commute (partial-order reduction).

Breadth-first search tries every interleaving. Two deliveries to different nodes are
often just two orders of the same thing: each changes only its receiver and adds
messages on its receiver's outgoing links, so either order ends in the same state.
Godefroid's sleep sets (*Partial-Order Methods for the Verification of Concurrent
Systems*, 1996, ch. 5; state caching as in §5.4) explore one order only: once
delivery u has been explored from a state, every sibling t explored after it that is
independent of u puts u to sleep in its successor — "s·t·u" is the state "s·u·t"
already reached from "s·u". Sleep sets prune transitions, never states: the set of
distinct states visited is the full search's (tests/test_explore_sleep.py checks it,
and the pinned state counts do not move).

**Which deliveries may sleep is decided at run time, from what the step did.** Our
state holds more than the nodes: the client history is a sequence and the invariant
checkers remember what they saw in arrival order (who led a term first, the term of
the first node seen applying an index), so two deliveries that both reply to a client,
or both feed the checker, do not commute in the state key even when they commute in
the cores. A delivery is *quiet* at a state when its step left the history, the
checker's memory and the verdict lines unchanged (only node state and messages moved),
and its receiver is up, not paused and has no armed crash point. Only quiet deliveries
sleep. A quiet delivery commutes with any step that touches neither its receiver, nor
its link, nor time (`Names.independent` says why), and stays quiet after it. So every
non-quiet transition — each election, commit, reply or invariant trip — is explored
from every state reached.

A transition is named across states by what it delivers — (source, receiver, message,
age) — not by its message id: ids are left out of the state key, so the same state
reached by two paths numbers its messages differently.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from workbench.explore.model import State, age

TransitionId = tuple[int, int, Hashable, float]
"""(source, receiver, message, age in ms): a delivery, named as the state key names a message."""

AWAKE: frozenset[TransitionId] = frozenset()


class Names:
    """The deliveries of one state, named: which may sleep, and every message's name."""

    def __init__(self, state: State) -> None:
        world = state.world
        self.world = world
        self.by_id: dict[str, TransitionId] = {}  # `#id` -> name, every message in flight
        self.sleepable: set[str] = set()  # receiver up, not paused, not armed to crash
        for m in world.flight:
            word = f"#{m.id}"
            self.by_id[word] = (m.src, m.dst, m.message, age(state, m))
            dst = m.dst
            if not (m.held or world.nodes[dst] is None or world.paused[dst] or (world.armed and world.armed[dst])):
                self.sleepable.add(word)

    def name(self, command: str, args: list[str]) -> TransitionId | None:
        """The transition's name if it is a delivery that may sleep."""
        if command == "deliver" and args and args[0] in self.sleepable:
            return self.by_id[args[0]]
        return None

    def independent(self, sleeper: TransitionId, command: str, args: list[str]) -> bool:
        """Does the step (`command`, `args`) from this state commute with the quiet
        delivery `sleeper`, leaving it quiet? Yes when it neither touches the sleeper's
        receiver (a step at another node; a cut or heal of one of its links), nor that
        message (a drop), nor time (`advance` ages every message and fires timers).

        Why a step at another node commutes even when it is not quiet: the sleeper's
        step told the checker nothing new (its receiver's facts were all in the
        checker's memory already), and that memory only grows, so the other step
        finds the same memory in either order, and the sleeper still finds its facts
        known after it; the sleeper adds no history, so the history's order holds."""
        receiver = sleeper[1]
        if command in ("deliver", "drop"):
            other = self.by_id.get(args[0]) if args else None
            if other is None:
                return False
            return other[1] != receiver if command == "deliver" else other != sleeper
        if command in ("client", "crash", "restart", "pause", "resume"):
            return int(args[0]) != receiver
        # A send over a cut link is dropped when sent (scenario/runner.py), so a cut or
        # heal at the receiver changes what the receiver's step leaves in flight.
        if command == "cut":
            return receiver not in (int(args[0]), int(args[1]))
        if command == "heal":
            return all(receiver not in link for link in self.world.cut)
        return False


def quiet(parent: State, child: State) -> bool:
    """Did the step from `parent` to `child` change only node state and messages?

    Call after `state_key(child)`: the child's checker parts then reuse the parent's
    (the same tuple object) for every field whose value did not change."""
    if len(child.world.history) != len(parent.world.history):
        return False
    if any("INVARIANT VIOLATED" in line for line in child.world.out):
        return False
    # Commuting relies on the checker's memory only growing; a checker that has
    # forgotten some (Multi-Paxos, slots >= 256 behind every checkpoint) says so.
    if getattr(child.world.invariants, "has_forgotten", False):
        return False
    before, after = parent.checker_parts, child.checker_parts
    if len(before) != len(after):
        return False
    return all(before.get(name) is part for name, part in after.items())


def asleep_after(names: Names, command: str, args: list[str], *, sleeping: frozenset[TransitionId],
                 explored: list[TransitionId]) -> frozenset[TransitionId]:
    """The successor's sleep set after the step (`command`, `args`): what slept at the
    parent, and the quiet deliveries explored from it before this step, that commute
    with the step (`Names.independent`)."""
    if command == "advance" or not (sleeping or explored):
        return AWAKE
    kept = [u for u in sleeping if names.independent(u, command, args)]
    kept.extend(u for u in explored if names.independent(u, command, args))
    return frozenset(kept) if kept else AWAKE


def wanted(enabled: list[tuple[str, list[str]]], names: Names, *,
           skip: frozenset[TransitionId] | None = None, only: frozenset[TransitionId] | None = None,
           ) -> list[tuple[str, list[str], TransitionId | None]]:
    """The transitions to explore, each with its name if it is a delivery that may sleep:
    all but those in `skip`, or (re-expanding a cached state) only those in `only`."""
    chosen: list[tuple[str, list[str], Any]] = []
    for command, args in enabled:
        name = names.name(command, args)
        if only is not None:
            if name is not None and name in only:
                chosen.append((command, args, name))
        elif name is None or skip is None or name not in skip:
            chosen.append((command, args, name))
    return chosen
