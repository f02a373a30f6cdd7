"""Clients stay on their node after a timeout, as Jepsen's workers do (issue 19 item 2)."""

from __future__ import annotations

import random

import pytest

from workbench.runtime.realtime_host import client_host_of
from workbench.workload.clients import ClientPool
from workbench.workload.spec import WorkloadConfig


@pytest.mark.parametrize(("clients", "nodes"), [(7, 5), (10, 5), (3, 5), (6, 4), (1, 3)])
def test_a_slot_keeps_its_node_and_slot_through_timeouts(clients: int, nodes: int) -> None:
    pool = ClientPool(WorkloadConfig(), nodes, clients, stop_ms=1e9, rng=random.Random(0))
    for slot in range(clients):
        for step in range(4):  # four timeouts in a row
            request = pool.invoke(slot, now=float(step))
            assert request is not None
            assert request.process % nodes == slot % nodes  # the node the runtimes send to
            assert pool.slot_of(request.process) == slot
            assert client_host_of(request.process, clients, nodes) == slot % nodes  # the Ray client host
            assert pool.time_out(request.process, request.seq, now=step + 0.5) == slot
            assert pool.node_of(slot) == slot % nodes
    processes = {e["process"] for e in pool.history}
    assert len(processes) == clients * 4  # a fresh process after every timeout
