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

**Independence is decided at run time, from what the step did.** Our state holds more
than the nodes: the client history is a sequence and the invariant checkers remember
what they saw in arrival order (who led a term first, the term of the first node seen
applying an index), so two deliveries that both reply to a client, or that both feed
the checker, do not commute in the state key even when they commute in the cores. A
delivery is *quiet* at a state when its step left the history, the checker's memory
and the output's verdict lines unchanged (only node state and messages moved), and
its receiver is up, not paused and has no armed crash point. Two quiet deliveries to
different receivers commute, and each stays quiet after the other: the other changed
neither its receiver, nor the checker's memory, nor the clock (a delivery takes no
time). So only quiet deliveries ever sleep, and every non-quiet transition — each
election, commit, reply or invariant trip — is explored from every state reached.

A transition is named across states by what it delivers — (source, receiver, message,
age) — not by its message id: ids are left out of the state key, so the same state
reached by two paths numbers its messages differently.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from workbench.explore.model import State

TransitionId = tuple[int, int, Hashable, float]
"""(source, receiver, message, age in ms): a delivery, named as the state key names a message."""

AWAKE: frozenset[TransitionId] = frozenset()


def delivery_ids(state: State) -> dict[str, TransitionId]:
    """`#id` -> name of each in-flight message that may sleep: its receiver is up, not
    paused and not armed to crash (a step that crashes its node is not quiet)."""
    world, now = state.world, state.world.now
    names: dict[str, TransitionId] = {}
    for m in world.flight:
        dst = m.dst
        if m.held or world.nodes[dst] is None or world.paused[dst] or (world.armed and world.armed[dst]):
            continue
        names[f"#{m.id}"] = (m.src, dst, m.message, now - state.sent_at.get(m.id, now))
    return names


def quiet(parent: State, child: State) -> bool:
    """Did the step from `parent` to `child` change only node state and messages?

    Call after `state_key(child)`: the child's checker parts then reuse the parent's
    (the same tuple object) for every field whose value did not change."""
    if len(child.world.history) != len(parent.world.history):
        return False
    if any("INVARIANT VIOLATED" in line for line in child.world.out):
        return False
    before, after = parent.checker_parts, child.checker_parts
    if len(before) != len(after):
        return False
    return all(before.get(name) is part for name, part in after.items())


def asleep_after(delivered: TransitionId, sleeping: frozenset[TransitionId],
                 explored: list[TransitionId]) -> frozenset[TransitionId]:
    """The successor's sleep set after the quiet delivery `delivered`: what slept at the
    parent, and the quiet deliveries explored from it before this one, that go to
    another receiver (those commute with it; one to the same receiver does not)."""
    receiver = delivered[1]
    kept = [u for u in sleeping if u[1] != receiver]
    kept.extend(u for u in explored if u[1] != receiver)
    return frozenset(kept) if kept else AWAKE


def wanted(enabled: list[tuple[str, list[str]]], names: dict[str, TransitionId],
           skip: frozenset[TransitionId] | None = None, only: frozenset[TransitionId] | None = None,
           ) -> list[tuple[str, list[str], TransitionId | None]]:
    """The transitions to explore, each with its name if it is a delivery that may sleep:
    all but those in `skip`, or (re-expanding a cached state) only those in `only`."""
    chosen: list[tuple[str, list[str], Any]] = []
    for command, args in enabled:
        name = names.get(args[0]) if command == "deliver" and args else None
        if only is not None:
            if name is not None and name in only:
                chosen.append((command, args, name))
        elif name is None or skip is None or name not in skip:
            chosen.append((command, args, name))
    return chosen
