"""Byte-identical simulator histories: the node driver changed no event, per protocol.

The hashes below were computed by benchmarks/history_hashes.py against the code before
the node driver (commit 530e83f, kept as a worktree for the comparison): history bytes,
trace records and message counters of the seeds in tests/test_sim.py, a clock-drift run
and (slow) the `make demo` seed, for Raft, Multi-Paxos and the eventual store. A change
that alters a history on purpose updates them and says so in its commit.
"""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT

_spec = importlib.util.spec_from_file_location("history_hashes", ROOT / "benchmarks" / "history_hashes.py")
assert _spec is not None and _spec.loader is not None
history_hashes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(history_hashes)

BEFORE_THE_DRIVER = {
    "eventual/demo-seed1": "0ff08c4ea5b7c8a0d954506e41e4701da8bba21f74fa9da5ba9d3b3b6cbf6a33",
    "eventual/seed3-nemesis": "2653eaee9c8e961c9c942baee10e10edbefa68defb1b57f3eb545ab75fbe7f48",
    "eventual/seed5-clocks": "9c8fbe9ef9aace46a4460329bd3ac4446951c58054c189e403a695eebf580795",
    "eventual/seed7": "284f799846f52137976e1125690909188d6570c700c4be64dfe3109bcd3473a7",
    "eventual/seed8": "8e929649195599fd0d48a30e15c0718d5295dc6966fcc34411722e3d25c2991c",
    "paxos/demo-seed1": "28472e9470112bbe63011d4b654f24d50c6f4554716b3f999ab9a80760fb64e5",
    "paxos/seed3-nemesis": "2a45a0f56a4bd13effb1212a7f671144742ff698aaa6ca0a69d6553389734ede",
    "paxos/seed5-clocks": "1eaff67a6db2855a4fb709a9656bb8d924b23939be88da545ed1ee3630ca1364",
    "paxos/seed7": "7d456c0f681858eee4f1c39a394283978abfd0706fd2d39371d856ae90147747",
    "paxos/seed8": "9c975b488ccbdcfaed74cf284339fb6df7494dbc856d21a6ff9693dd488e351b",
    "raft/demo-seed1": "69a1f558f8d7b53d81d800c9ffa39c0e90bd182ff851d91108e44edef630c6bd",
    "raft/seed3-nemesis": "02c2eec2a3740407f1b8894c09ef01b27162105b334bce66ee22e68a2009e271",
    "raft/seed5-clocks": "9820b874bfb87762a2c2eddfe544fd925d250ece3d453d03440cbcf00e9af575",
    "raft/seed7": "0dff573a0b4cbf69fe9c209ce263204f977bdc22d1e3f11c2358d16b2c44f57e",
    "raft/seed8": "6d64c117c00d91bbb1eee825ae0613b7356479c4456934571e0cb5a333c35901",
}


@pytest.mark.parametrize("protocol", history_hashes.PROTOCOLS)
@pytest.mark.parametrize("scenario", sorted(history_hashes.SCENARIOS))
def test_history_and_trace_are_byte_identical_to_before_the_driver(protocol: str, scenario: str) -> None:
    key = f"{protocol}/{scenario}"
    assert history_hashes.run_hash(protocol, history_hashes.SCENARIOS[scenario]) == BEFORE_THE_DRIVER[key], key


@pytest.mark.slow
@pytest.mark.parametrize("protocol", history_hashes.PROTOCOLS)
def test_the_demo_seed_is_byte_identical_to_before_the_driver(protocol: str) -> None:
    key = f"{protocol}/demo-seed1"
    assert history_hashes.run_hash(protocol, history_hashes.SLOW_SCENARIOS["demo-seed1"]) == BEFORE_THE_DRIVER[key], key
