"""A hybrid logical clock for the quorum store (Kulkarni et al. 2014, "Logical Physical
Clocks and Consistent Snapshots", Fig. 5), packed into one int.

Kept in its own small module so the quorum store can later switch to the shared
`protocols/common/hlc.py` without touching its logic: the rules are the paper's —
a local or send event sets l = max(l, pt) and bumps c on a tie; a receive event sets
l = max(l, l_msg, pt) and c accordingly. Timestamps pack as
((l in µs) * 1000 + c) * 1000 + node, so int order is (l, c, node) order and the
node id breaks ties — the same encoding the eventual store reports as a version.
"""

from __future__ import annotations

_C_LIMIT = 999  # c is a counter per µs; it never reaches this in a simulated run


def pack(physical_us: int, logical: int, node: int) -> int:
    return (physical_us * 1000 + min(logical, _C_LIMIT)) * 1000 + node


def physical_us_of(stamp: int) -> int:
    return stamp // 1_000_000


def logical_of(stamp: int) -> int:
    return (stamp // 1000) % 1000


class HybridClock:
    """One node's HLC; `now` is the node's own clock in ms, as the runtime gives it."""

    __slots__ = ("node", "_l", "_c")

    def __init__(self, node: int) -> None:
        self.node = node
        self._l = 0
        self._c = 0

    def tick(self, now: float) -> int:
        """Local / send event (Fig. 5): a timestamp above every one this clock gave or saw."""
        physical = int(now * 1000)
        if physical > self._l:
            self._l, self._c = physical, 0
        else:
            self._c += 1
        return pack(self._l, self._c, self.node)

    def observe(self, stamp: int, now: float) -> None:
        """Receive event (Fig. 5): never issue a timestamp below one already seen."""
        remote_l, remote_c = physical_us_of(stamp), logical_of(stamp)
        physical = int(now * 1000)
        top = max(self._l, remote_l, physical)
        if top == self._l and top == remote_l:
            self._c = max(self._c, remote_c) + 1
        elif top == self._l:
            self._c += 1
        elif top == remote_l:
            self._c = remote_c + 1
        else:
            self._c = 0
        self._l = top
