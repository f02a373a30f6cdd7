"""A hybrid logical clock, exactly as Kulkarni et al. 2014 ("Logical Physical Clocks and
Consistent Snapshots in Globally Distributed Databases", Fig. 5) publish it.

A timestamp is (l, c): `l` the largest physical reading heard of, `c` a logical counter
that orders events sharing one `l`. With the node id as the last component, (l, c, node)
is a total order in which no two distinct events of a cluster share a timestamp: each
node issues strictly increasing (l, c), and nodes differ in `node`.

Rules (Fig. 5), with `pt` the node's physical clock reading:
- send or local event: l' = max(l, pt); c = c + 1 if l' == l else 0;
- receive of m:        l' = max(l, l_m, pt); c = max(c, c_m) + 1 if l' == l == l_m,
                       c + 1 if l' == l only, c_m + 1 if l' == l_m only, else 0.

Properties the tests check (§4, Theorems 1-3): every new timestamp exceeds the node's
previous one; a receive exceeds both the local and the message's timestamp; and
l - pt never exceeds how far the fastest clock is ahead of this one, because every `l`
is some clock's reading at an earlier moment.

The counter is not capped in the paper (it is bounded by the events within one clock
skew, Theorem 3). Here it is stored in 16 bits so a timestamp packs into one int64;
an event that would overflow it advances `l` by one tick instead (c restarts at 0),
which keeps the order total and strictly increasing and moves `l` ahead of `pt` by one
tick per 65,536 events in one tick (never reached at the workbench's rates).

Clock readings may be negative (a node whose clock offset puts it before the run's
epoch): a fresh clock has no `l` yet and takes the first reading it is given.

Deliberate bugs for the mutant catalogue (`bug=`): `hlc_ignore_remote_counter` drops
c_m on a tie of l (c = c + 1), `hlc_counter_capped` saturates c at 999 so distinct
events share a timestamp: the two bugs issue 20 found in the eventual store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NODE_BITS = 8
COUNTER_BITS = 16
COUNTER_LIMIT = 1 << COUNTER_BITS
"""c stays below this; an overflow advances l by one tick."""
MAX_NODES = 1 << NODE_BITS
_CAPPED_AT = 999  # the old store's cap, kept for the `hlc_counter_capped` mutant

ClockBug = Literal["hlc_ignore_remote_counter", "hlc_counter_capped"]


@dataclass(frozen=True, order=True, slots=True)
class Timestamp:
    """(l, c, node), ordered lexicographically: the field order is the total order."""

    l: int  # noqa: E741 - the paper's name
    c: int
    node: int

    def packed(self) -> int:
        """One int ordered exactly as the triple (for traces and DataFrames).

        l * 2^24 + c * 2^8 + node: order-preserving for negative l too, since c and
        node stay inside their fields. Fits an int64 while |l| < 2^39 ticks (6 days of µs).
        """
        return (self.l << (COUNTER_BITS + NODE_BITS)) + (self.c << NODE_BITS) + self.node

    @classmethod
    def unpack(cls, packed: int) -> Timestamp:
        return cls(packed >> (COUNTER_BITS + NODE_BITS),
                   (packed >> NODE_BITS) & (COUNTER_LIMIT - 1), packed & (MAX_NODES - 1))


class HybridClock:
    """One node's HLC. `tick` is the send/local rule, `receive` the receive rule."""

    __slots__ = ("node", "l", "c", "_counter_limit", "_bug")

    def __init__(self, node: int, *, counter_limit: int = COUNTER_LIMIT,
                 bug: ClockBug | None = None) -> None:
        if not 0 <= node < MAX_NODES:
            raise ValueError(f"node id {node} outside 0..{MAX_NODES - 1}")
        if not 1 <= counter_limit <= COUNTER_LIMIT:
            raise ValueError(f"counter_limit must be in 1..{COUNTER_LIMIT}")
        self.node = node
        self.l: int | None = None  # no event yet: the first reading wins, even a negative one
        self.c = 0
        self._counter_limit = counter_limit
        self._bug = bug

    @property
    def last(self) -> Timestamp | None:
        """The latest timestamp issued or adopted (None before the first event)."""
        return None if self.l is None else Timestamp(self.l, self.c, self.node)

    def tick(self, pt: int) -> Timestamp:
        """Send or local event (Fig. 5, lines 1-4)."""
        if self.l is None or pt > self.l:
            self.l, self.c = pt, 0
        else:
            self._bump(self.c + 1)
        return Timestamp(self.l, self.c, self.node)

    def receive(self, remote: Timestamp, pt: int) -> Timestamp:
        """Receive event of a message stamped `remote` (Fig. 5, lines 5-11)."""
        old = remote.l - 1 if self.l is None else self.l  # a fresh clock loses every tie
        new = max(old, remote.l, pt)
        if new == old == remote.l:
            counter = self.c + 1 if self._bug == "hlc_ignore_remote_counter" else max(self.c, remote.c) + 1
        elif new == old:
            counter = self.c + 1
        elif new == remote.l:
            counter = remote.c + 1
        else:
            counter = 0
        self.l = new
        self._bump(counter)
        return Timestamp(self.l, self.c, self.node)

    def restore(self, at_least: Timestamp) -> None:
        """After a restart: continue above a timestamp issued or seen before the crash."""
        if self.l is None or (at_least.l, at_least.c) > (self.l, self.c):
            self.l, self.c = at_least.l, at_least.c

    def _bump(self, counter: int) -> None:
        assert self.l is not None
        if self._bug == "hlc_counter_capped":
            self.c = min(counter, _CAPPED_AT)
        elif counter >= self._counter_limit:
            # Overflow: move l one tick on rather than reuse a counter value (module doc).
            self.l, self.c = self.l + 1, 0
        else:
            self.c = counter
