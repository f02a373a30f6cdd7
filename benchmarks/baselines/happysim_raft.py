"""happysim's Raft, saturated: the baseline that benchmarks/raft_sim.py compares against.

NOT part of the workbench and not importable on the project's Python: happysim
(PyPI `happysim`, import `happysimulator`) needs Python >= 3.13. raft_sim.py runs this
file with a >= 3.13 interpreter in a throwaway venv holding `happysim==0.2.5`; by hand:

    python3.13 -m venv /tmp/hs && /tmp/hs/bin/pip install happysim==0.2.5
    /tmp/hs/bin/python benchmarks/baselines/happysim_raft.py --seconds 5

It prints one JSON line: msgs (Raft messages the network delivered: RequestVote,
AppendEntries and their replies, counted by happysim's own per-link `packets_sent`),
sent (messages handed to the network, `Network.events_routed`), ops (client commands
committed and answered), wall_s (wall time of `Simulation.run()` only, as for ours),
cpu_s, sim_s, events (happysim's processed-event count), happysim_version, python,
elections / leader (a leader change mid-run would make the rates meaningless).

The scenario, built the way happysim's own examples/distributed/raft_leader_election.py
builds it (`RaftNode`s on a `Network`, one `NetworkLink` per pair, `node.start()` from
an `Event.once`, commands via `leader.submit()`), matched to raft_sim.py's as far as
its API allows:

- same: 5 nodes; one-way latency 1 ms constant (`ConstantLatency(0.001)`, no
  bandwidth limit, no loss, no jitter); no faults; 50 closed-loop clients with think
  time 0 (each always has one command outstanding: it yields the SimFuture that
  `submit()` returns and submits the next command the moment it resolves); clients
  start at 0.5 s; election timeouts 150-300 ms (ours' defaults); the same op mix on
  8 keys, 50% get / 40% set / 10% cas as KVStateMachine commands, all through the log
  (our read_mode=log), reads only in the last second (our final_reads_s); seed 1.
- differs: happysim's leader replicates ONLY on its heartbeat tick: `submit()` only
  appends to the leader's log, and each tick sends every follower all entries past its
  nextIndex (batching, but no pipelining and no send-on-append; an entry is resent by
  every tick until its ack arrives). So its heartbeat interval is its replication
  cadence: default `--heartbeat-ms 1` (= the one-way latency: a command waits at most
  one latency for the next AppendEntries, the nearest this API gets to ours, which
  sends as soon as entries exist and heartbeats every 50 ms when idle). A longer tick
  sends fewer, fuller messages and commits fewer ops per simulated second.
- differs: happysim's RaftNode has no request forwarding (`submit()` on a follower
  parks the future forever), so every client submits straight to the current leader,
  with no network hop; ours puts client p beside node p mod 5 and followers forward
  to the leader (2 extra messages per op for 4 in 5 clients).
- differs: no client timeouts or retries (none are needed without faults); no PreVote,
  CheckQuorum, leader no-op, duplicate detection, durable storage or snapshots in
  happysim's Raft; followers learn the commit index only from the next tick.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import time
from importlib.metadata import version

from happysimulator.components.consensus.raft import RaftNode
from happysimulator.components.consensus.raft_state_machine import KVStateMachine
from happysimulator.components.network.link import NetworkLink
from happysimulator.components.network.network import Network
from happysimulator.core.entity import Entity
from happysimulator.core.event import Event
from happysimulator.core.simulation import Simulation
from happysimulator.core.temporal import Instant
from happysimulator.distributions.constant import ConstantLatency

MIX = (("get", 0.5), ("set", 0.4), ("cas", 0.1))


class ClosedLoopClient(Entity):
    """One command outstanding at all times, no think time: submit to the leader, park
    on the returned SimFuture until the command commits, submit the next."""

    def __init__(self, name: str, nodes: list[RaftNode], keys: int, reads_only_after: float,
                 values: itertools.count, rng: random.Random) -> None:
        super().__init__(name)
        self.nodes = nodes
        self.keys = keys
        self.reads_only_after = reads_only_after
        self.values = values
        self.rng = rng
        self.completed = 0
        self.last_seen: dict[str, object] = {}

    def command(self) -> dict:
        key = f"k{self.rng.randrange(self.keys)}"
        if self.now.to_seconds() >= self.reads_only_after:
            return {"op": "get", "key": key}
        r, op = self.rng.random(), "cas"
        for name, weight in MIX:
            if r < weight:
                op = name
                break
            r -= weight
        if op == "get":
            return {"op": "get", "key": key}
        if op == "set":
            return {"op": "set", "key": key, "value": next(self.values)}
        return {"op": "cas", "key": key, "expected": self.last_seen.get(key),
                "value": next(self.values)}

    def handle_event(self, event: Event):
        while True:
            leader = next((n for n in self.nodes if n.is_leader), None)
            if leader is None:  # before the first election: look again in 1 ms
                yield 0.001
                continue
            command = self.command()
            _index, result = yield leader.submit(command)
            self.completed += 1
            if command["op"] == "get":
                self.last_seen[command["key"]] = result
            elif command["op"] == "set" or result:
                self.last_seen[command["key"]] = command["value"]


def run(seconds: float, nodes: int, clients: int, heartbeat_ms: float, latency_ms: float,
        keys: int, start_s: float, final_reads_s: float, seed: int) -> dict:
    random.seed(seed)  # RaftNode draws its election timeouts from the global `random`
    network = Network(name="raft-net")
    raft = [RaftNode(name=f"node-{i}", network=network, state_machine=KVStateMachine(),
                     election_timeout_min=0.150, election_timeout_max=0.300,
                     heartbeat_interval=heartbeat_ms / 1000)
            for i in range(nodes)]
    for node in raft:
        node.set_peers(raft)
    for i, a in enumerate(raft):
        for b in raft[i + 1:]:
            network.add_bidirectional_link(
                a, b, NetworkLink(name=f"link-{a.name}-{b.name}",
                                  latency=ConstantLatency(latency_ms / 1000)))

    values = itertools.count(1)
    rng = random.Random(seed)
    client_entities = [ClosedLoopClient(f"client-{p}", raft, keys, seconds - final_reads_s,
                                        values, random.Random(rng.random()))
                       for p in range(clients)]

    sim = Simulation(start_time=Instant.Epoch, duration=seconds,
                     entities=[network, *raft, *client_entities])
    for node in raft:
        sim.schedule(Event.once(time=Instant.Epoch, event_type="StartNode",
                                fn=lambda _event, n=node: n.start()))
    for client in client_entities:
        sim.schedule(Event(time=Instant.from_seconds(start_s), event_type="ClientStart",
                           target=client))

    start, cpu = time.perf_counter(), time.process_time()
    summary = sim.run()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu

    leaders = [n.name for n in raft if n.is_leader]
    return {
        "msgs": sum(link.packets_sent for link in network.traffic_matrix()),
        "sent": network.events_routed,
        "ops": sum(c.completed for c in client_entities),
        "wall_s": wall,
        "cpu_s": cpu,
        "sim_s": seconds,
        "events": summary.total_events_processed,
        "happysim_version": version("happysim"),
        "python": platform.python_version(),
        "nodes": nodes,
        "clients": clients,
        "heartbeat_ms": heartbeat_ms,
        "latency_ms": latency_ms,
        "elections": sum(n.stats.elections_started for n in raft),
        "leader": leaders[0] if len(leaders) == 1 else leaders,
        "commit_index": max(n.stats.commit_index for n in raft),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--heartbeat-ms", type=float, default=1.0,
                        help="leader tick = replication cadence in happysim's Raft")
    parser.add_argument("--latency-ms", type=float, default=1.0, help="one-way, constant")
    parser.add_argument("--keys", type=int, default=8)
    parser.add_argument("--start-s", type=float, default=0.5)
    parser.add_argument("--final-reads-s", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.seconds, args.nodes, args.clients, args.heartbeat_ms, args.latency_ms,
                 args.keys, args.start_s, args.final_reads_s, args.seed)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
