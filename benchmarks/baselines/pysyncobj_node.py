"""One PySyncObj node for benchmarks/ray_runtime.py, in a process of its own.

Kept apart from the benchmark (which imports Ray and the workbench) so that the five
spawned node processes start quickly: they import only PySyncObj.
"""

from __future__ import annotations

import threading
import time
from typing import Any


def run_node(index: int, ports: list[int], in_flight: int, duration_s: float,
             ready: Any, go: Any, start: Any, out: Any) -> None:
    """A replicated counter; once every node knows the leader (`ready`, then `go`), keep
    `in_flight` requests outstanding from here (each commit is replaced at once) and
    report how many committed inside [start + 1 s, start + 1 s + duration), and this
    process's CPU seconds from `go` to the end with the ops committed over that time."""
    from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

    class Counter(SyncObj):
        def __init__(self, me: str, partners: list[str]) -> None:
            conf = SyncObjConf(appendEntriesUseBatch=True, dynamicMembershipChange=False,
                               commandsQueueSize=max(100_000, 4 * in_flight))
            super().__init__(me, partners, conf)
            self._value = 0

        @replicated
        def add(self, amount: int) -> int:
            self._value += amount
            return self._value

    addresses = [f"127.0.0.1:{p}" for p in ports]
    node = Counter(addresses[index], [a for i, a in enumerate(addresses) if i != index])
    while node._getLeader() is None:  # noqa: SLF001 - no public "leader known" in PySyncObj
        time.sleep(0.05)
    ready.put(index)
    go.wait()
    cpu_start = time.process_time()
    low = start.value + 1.0
    high = low + duration_s
    lock = threading.Lock()
    committed = [0]
    all_committed = [0]  # from `go` to the end, for CPU seconds per committed op

    def done(result: Any, error: Any) -> None:
        now = time.time()
        if error == FAIL_REASON.SUCCESS:
            with lock:
                all_committed[0] += 1
                if low <= now < high:
                    committed[0] += 1
        if now < high:
            node.add(1, callback=done)

    for _ in range(in_flight):
        node.add(1, callback=done)
    time.sleep(max(0.0, high - time.time()) + 0.5)
    # This process's CPU (all threads) from `go` on, and what committed meanwhile.
    out.put((committed[0], time.process_time() - cpu_start, all_committed[0]))
    node.destroy()
