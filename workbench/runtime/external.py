"""The external runtime: Maelstrom node programs as a cluster, in real time, one asyncio loop.

`protocol: external` runs `external.command` once per node (`n1` .. `nN`; cluster
member i is `n{i+1}`) and plays Maelstrom's part around them:

- start: spawn every node, send `init` (`node_id`, `node_ids`) and wait for every
  `init_ok` (`external.init_timeout_s`; a node that exits or stays silent fails the
  run with one line naming it and its log); broadcast also gets `topology`. Run time
  0 is when every node has answered.
- network: every node-to-node line goes through the workbench's fault model: a link a
  partition cuts drops it (checked when sent and again when it arrives, as in the
  simulator), else `LinkModel.delays` gives the delay of each copy (loss,
  duplication, reordering, any latency distribution), all drawn from rngs seeded by
  the run seed. Services (`lin-kv`, `seq-kv`, `lww-kv`) sit behind the same link model.
- clients: the workbench's `ClientPool` (process p beside node p mod n, as in every
  runtime) invokes ops; `external_workloads` turns them into request bodies and the
  replies into ok / fail / info by Maelstrom's error codes; no reply within
  `workload.timeout_ms` is info.
- faults: crash = kill -9 of the node's process group, restart = a fresh process and a
  fresh `init` (memory lost, as in Maelstrom); pause = SIGSTOP, resume = SIGCONT.
- robustness: a line that is not JSON, has no `dest` or names an unknown `dest` is
  counted and logged (`logs/harness.log`), never fatal; a node that exits on its own
  is recorded in the trace (`node_exit`); every process is killed and reaped at the end.

Not byte-for-byte replayable (DESIGN.md "External nodes"): the fault schedule and
every rng are seeded, but the nodes' own timing and the OS scheduler are not.

`ExternalRuntime` only routes lines between the nodes, the network model and the
clients; its transport to one node is a `NodeProcess` (a child of this process) or,
on `runtime: ray`, an `external_ray.RemoteNode` (a process a Ray node actor owns).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.core.effects import Reply
from workbench.core.ops import ClientRequest
from workbench.errors import UserInputError
from workbench.experiment.config import ExperimentConfig
from workbench.faults import (
    FaultEvent,
    LinkModel,
    Network,
    build_schedule,
    resolve_node,
    resolve_partition,
)
from workbench.runtime.external_process import NodeFactory, NodeProcess, NodeTransport
from workbench.runtime.external_services import SERVICE_NAMES, make_services
from workbench.runtime.external_spec import ExternalConfig
from workbench.runtime.external_workloads import (
    pool_workload,
    reply_outcome,
    request_body,
    topology,
)
from workbench.runtime.result import RunResult
from workbench.runtime.seeds import derive_rng
from workbench.workload.clients import ClientPool

HARNESS_CLIENT = "c0"
"""Sends `init` and `topology`; workload client process p is `c{p+1}`."""
LOG_TAIL_BYTES = 1 << 20
"""Each node's stderr log kept in the run folder (its last MiB)."""
MALFORMED_LOGGED = 50
"""Malformed lines written to harness.log per node (all are counted)."""


class ExternalNodeError(UserInputError):
    """The node program could not be started or initialised: one line, exit 2."""


def python_argv(command: list[str]) -> list[str]:
    """`{python}` in a command is this interpreter (so our own modules run without PATH)."""
    return [sys.executable if word == "{python}" else word for word in command]


class ExternalRuntime:
    def __init__(self, config: ExperimentConfig, log_dir: Path,
                 transport: NodeFactory = NodeProcess) -> None:
        """`transport` makes the stand-in for one node: a child process of this one
        (`NodeProcess`), or a process a Ray node actor owns (`external_ray`)."""
        assert config.external is not None
        self.config = config
        self.spec: ExternalConfig = config.external
        self.workload = self.spec.workload
        self.n = config.nodes
        self.end_ms = config.duration_ms
        self.names = [f"n{i + 1}" for i in range(self.n)]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.log_dir = log_dir
        self.argv = python_argv(self.spec.command)

        seed = config.seed
        self.net_rng = derive_rng(seed, "network")
        self.fault_rng = derive_rng(seed, "faults")
        self.network = Network(self.n, LinkModel(config.network))
        self.link = self.network.link
        self.services = make_services(lambda name: derive_rng(seed, "service", name))
        workload = pool_workload(config.workload, self.workload)
        self.timeout_ms = workload.timeout_ms
        self.clients = ClientPool(workload, self.n, config.clients,
                                  stop_ms=self.end_ms - workload.timeout_ms,
                                  rng=derive_rng(seed, "clients"))
        self.closed_loop = workload.arrival == "closed"

        self.nodes: list[NodeTransport] = [transport(name, self.argv, log_dir / f"{name}.stderr.log",
                                  self.spec.max_line_bytes, self._on_line, self._on_malformed,
                                  self._on_exit)
                      for name in self.names]
        self._msg_ids = itertools.count(1)
        self._requests: dict[int, ClientRequest] = {}  # msg_id -> the op it carries
        # init / topology replies: msg_id -> (node, its future)
        self._control: dict[int, tuple[int, asyncio.Future[dict[str, Any]]]] = {}
        self._crashed_by_fault: dict[int, int] = {}
        # Nodes a crash fault killed whose exit has not been seen yet. Not the same as
        # `_crashed_by_fault`: the restart may come first (on Ray, under load, the exit
        # is reported by a poll that can trail the kill by more than the crash lasts),
        # and that exit must not count as the node's own (`node_exit`).
        self._kills_unseen: set[int] = set()
        self._paused_by_fault: dict[int, int] = {}
        self._restarts: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._failure: asyncio.Future[BaseException] | None = None
        self._t0 = 0.0
        self.trace: list[dict[str, Any]] = []
        self.harness_log = open(log_dir / "harness.log", "w", encoding="utf-8")  # noqa: SIM115
        self.stats: dict[str, Any] = {
            "messages_sent": 0, "messages_delivered": 0, "messages_dropped": 0,
            "service_requests": 0, "client_requests": 0, "client_replies": 0,
            "stray_replies": 0, "malformed_lines": 0,
            "malformed_per_node": [0] * self.n, "sent_per_node": [0] * self.n,
        }

    # ------------------------------------------------------------ time
    def now_ms(self) -> float:
        return (self.loop.time() - self._t0) * 1000.0

    def _later(self, delay_ms: float, callback: Any, *args: Any) -> None:
        self.loop.call_later(max(delay_ms, 0.0) / 1000.0, callback, *args)

    def _log(self, text: str) -> None:
        self.harness_log.write(f"{self.now_ms():10.1f} ms  {text}\n")

    # ------------------------------------------------------------ the run
    def fail(self, exc: BaseException) -> None:
        """Stop the run early with `exc` (a transport lost its node's owner)."""
        if self._failure is not None and not self._failure.done():
            self._failure.set_result(exc)

    async def run(self) -> RunResult:
        self.loop = asyncio.get_running_loop()
        self._failure = self.loop.create_future()
        self._t0 = self.loop.time()
        wall = time.perf_counter()
        try:
            await self._start_cluster()
            self._t0 = self.loop.time()  # run time 0: every node is initialised
            self._schedule_clients()
            for event in build_schedule(self.config.faults, self.end_ms, self.fault_rng):
                self._later(event.time_ms, self._fault, event)
            await asyncio.wait([self._failure], timeout=self.end_ms / 1000.0)
            if self._failure.done():
                raise self._failure.result()
            self._stopping = True
            self.clients.finish(self.end_ms)
        finally:
            self._stopping = True
            await self._stop_cluster()
            self.harness_log.close()
        self.stats["wall_s"] = time.perf_counter() - wall
        self.stats["messages_per_s"] = self.stats["messages_sent"] / max(self.end_ms / 1000.0, 1e-9)
        self.stats["dropped_writes"] = sum(node.dropped_writes for node in self.nodes)
        return RunResult(self.clients.history, self.trace, self.stats, files=self._log_files())

    async def _start_cluster(self) -> None:
        for node in self.nodes:
            try:
                await node.start()
            except OSError as exc:
                raise ExternalNodeError(
                    f"external.command: cannot start {self.argv[0]!r} ({exc.strerror or exc})") from None
        await asyncio.gather(*(self._init(i, fatal=True) for i in range(self.n)))
        if self.workload == "broadcast":
            body = {"type": "topology", "topology": topology(self.names, self.spec.topology)}
            await asyncio.gather(*(self._control_rpc(i, body) for i in range(self.n)),
                                 return_exceptions=True)

    async def _init(self, i: int, fatal: bool) -> None:
        body = {"type": "init", "node_id": self.names[i], "node_ids": list(self.names)}
        try:
            reply = await self._control_rpc(i, body)
        except (TimeoutError, ConnectionError) as exc:
            await self.nodes[i].sync_log()
            problem = self._init_problem(i, exc)
            if fatal:
                raise ExternalNodeError(problem) from None
            self._log(problem)
            self.trace.append({"time": round(self.now_ms(), 3), "kind": "init_failed", "node": i})
            return
        if reply.get("type") != "init_ok":
            problem = f"external node {self.names[i]} answered init with {reply.get('type')!r}, not 'init_ok'"
            if fatal:
                raise ExternalNodeError(problem)
            self._log(problem)
        elif not fatal:
            # A re-spawned node is ready only once it answered init: on a loaded machine
            # starting an interpreter can take seconds, and what a node owes its clients
            # (liveness) starts here, not at the restart fault.
            self.trace.append({"time": round(self.now_ms(), 3), "kind": "node_ready", "node": i})

    def _init_problem(self, i: int, exc: BaseException) -> str:
        name, log = self.names[i], self.log_dir / f"{self.names[i]}.stderr.log"
        last = _last_line(log)
        hint = f"; its stderr ends: {last!r}" if last else ""
        if isinstance(exc, ConnectionError):
            return f"external node {name} ({' '.join(self.spec.command)}) exited with code {exc} before answering init{hint}"
        return (f"external node {name} ({' '.join(self.spec.command)}) did not answer init within "
                f"{self.spec.init_timeout_s:g} s (external.init_timeout_s){hint}")

    async def _control_rpc(self, i: int, body: dict[str, Any]) -> dict[str, Any]:
        msg_id = next(self._msg_ids)
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._control[msg_id] = (i, future)
        line = {"src": HARNESS_CLIENT, "dest": self.names[i], "body": {**body, "msg_id": msg_id}}
        code = self.nodes[i].exit_code
        if code is not None:  # gone before we asked
            self._control.pop(msg_id, None)
            raise ConnectionError(code)
        self.nodes[i].write(_encode(line))
        try:
            # A run that failed meanwhile (a lost node actor) ends the wait at once.
            assert self._failure is not None
            await asyncio.wait([future, self._failure], timeout=self.spec.init_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
            if self._failure.done():
                raise self._failure.result()
            if not future.done():
                raise TimeoutError
            return future.result()
        finally:
            self._control.pop(msg_id, None)

    async def _stop_cluster(self) -> None:
        for task in self._restarts:
            task.cancel()
        for _, future in self._control.values():
            future.cancel()
        await asyncio.gather(*(node.stop(self.spec.grace_s) for node in self.nodes),
                             return_exceptions=True)

    def _log_files(self) -> dict[str, bytes]:
        files = {}
        for path in sorted(self.log_dir.iterdir()):
            data = path.read_bytes()
            files[f"logs/{path.name}"] = data[-LOG_TAIL_BYTES:]
        return files

    # ------------------------------------------------------------ clients
    def _schedule_clients(self) -> None:
        for slot in range(self.clients.clients):
            first = self.clients.first_invoke_ms(slot)
            if not self.closed_loop:
                first += self.clients.next_arrival_gap_ms()
            self._later(first, self._client_next, slot)

    def _client_next(self, slot: int) -> None:
        if self._stopping:
            return
        now = self.now_ms()
        if not self.closed_loop:
            self._later(self.clients.next_arrival_gap_ms(), self._client_next, slot)
        request = self.clients.invoke(slot, now)
        if request is None:
            return
        msg_id = next(self._msg_ids)
        self._requests[msg_id] = request
        node = request.process % self.n
        body = {**request_body(self.workload, request), "msg_id": msg_id}
        self.stats["client_requests"] += 1
        # Clients sit beside their node (as in Jepsen): no network model in between.
        self.nodes[node].write(_encode({"src": f"c{request.process + 1}", "dest": self.names[node],
                                        "body": body}))
        self._later(self.timeout_ms, self._client_timeout, msg_id)

    def _client_timeout(self, msg_id: int) -> None:
        request = self._requests.pop(msg_id, None)
        if request is None or self._stopping:
            return
        slot = self.clients.time_out(request.process, request.seq, self.now_ms())
        self._next_after(slot)

    def _next_after(self, slot: int | None) -> None:
        if slot is not None and self.closed_loop:
            self._later(self.clients.next_delay_ms(slot), self._client_next, slot)

    def _client_reply(self, dest: str, body: dict[str, Any]) -> None:
        msg_id = body.get("in_reply_to")
        request = self._requests.get(msg_id) if isinstance(msg_id, int) else None
        if request is None or dest != f"c{request.process + 1}":
            self.stats["stray_replies"] += 1  # late (already timed out), duplicated or misaddressed
            return
        del self._requests[msg_id]
        self.stats["client_replies"] += 1
        now = self.now_ms()
        kind, value = reply_outcome(self.workload, request, body)
        if kind == "info":
            slot = self.clients.time_out(request.process, request.seq, now)
        else:
            slot = self.clients.complete(
                Reply(request.process, request.seq, kind, value if kind == "ok" else None,
                      value if kind == "fail" else None), now)
        self._next_after(slot)

    # ------------------------------------------------------------ lines from nodes
    def _on_line(self, node: NodeTransport, line: bytes) -> None:
        src = self.index[node.name]
        try:
            message = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            self._on_malformed(node, f"not JSON: {line[:200]!r}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("body"), dict):
            self._on_malformed(node, f"not a message with a body object: {line[:200]!r}")
            return
        dest = message.get("dest")
        if dest is None:
            self._on_malformed(node, f"no dest: {line[:200]!r}")
            return
        body = message["body"]
        if dest in self.index:
            self._send(src, self.index[dest], line if line.endswith(b"\n") else line + b"\n")
        elif dest in SERVICE_NAMES:
            self._to_service(src, dest, body)
        elif dest == HARNESS_CLIENT:
            waiting = self._control.get(body.get("in_reply_to"))  # type: ignore[arg-type]
            if waiting is not None and not waiting[1].done():
                waiting[1].set_result(body)
        elif isinstance(dest, str) and dest.startswith("c") and dest[1:].isdigit():
            self._client_reply(dest, body)
        else:
            self._on_malformed(node, f"unknown dest {dest!r}")

    def _on_malformed(self, node: NodeTransport, problem: str) -> None:
        i = self.index[node.name]
        self.stats["malformed_lines"] += 1
        self.stats["malformed_per_node"][i] += 1
        if self.stats["malformed_per_node"][i] <= MALFORMED_LOGGED:
            self._log(f"{node.name}: malformed line: {problem}")

    def _on_exit(self, node: NodeTransport, code: int) -> None:
        i = self.index[node.name]
        for target, future in list(self._control.values()):
            if target == i and not future.done():
                future.set_exception(ConnectionError(code))
        if i in self._kills_unseen:
            self._kills_unseen.discard(i)
            return
        if self._stopping or i in self._crashed_by_fault.values():
            return
        self._log(f"{node.name}: exited on its own with code {code}")
        self.trace.append({"time": round(self.now_ms(), 3), "kind": "node_exit", "node": i, "code": code})

    # ------------------------------------------------------------ the network
    def _send(self, src: int, dst: int, data: bytes) -> None:
        self.stats["messages_sent"] += 1
        self.stats["sent_per_node"][src] += 1
        if (src, dst) in self.network.cut_links:
            self.stats["messages_dropped"] += 1
            return
        delays = self.link.delays(self.net_rng)
        if not delays:
            self.stats["messages_dropped"] += 1
        for delay in delays:
            self._later(delay, self._deliver, src, dst, data)

    def _deliver(self, src: int, dst: int, data: bytes) -> None:
        if (src, dst) in self.network.cut_links:  # a cut that started while it was in flight
            self.stats["messages_dropped"] += 1
            return
        if self.nodes[dst].write(data):
            self.stats["messages_delivered"] += 1
        else:
            self.stats["messages_dropped"] += 1

    def _to_service(self, src: int, service: str, body: dict[str, Any]) -> None:
        self.stats["service_requests"] += 1
        for delay in self.link.delays(self.net_rng):
            self._later(delay, self._service_arrival, src, service, body)

    def _service_arrival(self, src: int, service: str, body: dict[str, Any]) -> None:
        reply = self.services[service].handle(self.names[src], body, self.now_ms())
        if "msg_id" in body:
            reply["in_reply_to"] = body["msg_id"]
        data = _encode({"src": service, "dest": self.names[src], "body": reply})
        for delay in self.link.delays(self.net_rng):
            self._later(delay, self.nodes[src].write, data)

    # ------------------------------------------------------------ faults
    def _fault(self, event: FaultEvent) -> None:
        if self._stopping:
            return
        members = list(range(self.n))
        record: dict[str, Any] = {"time": round(self.now_ms(), 3), "kind": event.kind,
                                  "fault_id": event.fault_id}
        # The harness cannot see inside a node: `leader` targets resolve as random ones.
        if event.kind == "partition_start":
            partition = resolve_partition(event.spec, members, leader=None, rng=self.fault_rng)  # type: ignore[arg-type]
            self.network.start_partition(event.fault_id, partition)
            record.update(shape=event.spec.shape,  # type: ignore[attr-defined]
                          groups=[sorted(g) for g in partition.groups],
                          minority=sorted(partition.minority_nodes()))
        elif event.kind == "partition_end":
            self.network.end_partition(event.fault_id)
        elif event.kind == "crash":
            node = resolve_node(event.spec.node, members, leader=None, rng=self.fault_rng)  # type: ignore[attr-defined]
            self._crashed_by_fault[event.fault_id] = node
            if self.nodes[node].exit_code is None:  # running: its exit is ours, not its own
                self._kills_unseen.add(node)
            self.nodes[node].kill()
            record["node"] = node
        elif event.kind == "restart":
            node = self._crashed_by_fault.pop(event.fault_id)
            task = self.loop.create_task(self._restart(node))
            self._restarts.add(task)
            task.add_done_callback(self._restarts.discard)
            record["node"] = node
        elif event.kind == "pause":
            node = resolve_node(event.spec.node, members, leader=None, rng=self.fault_rng)  # type: ignore[attr-defined]
            self._paused_by_fault[event.fault_id] = node
            self.nodes[node].pause()
            record["node"] = node
        elif event.kind == "resume":
            node = self._paused_by_fault.pop(event.fault_id)
            self.nodes[node].resume()
            record["node"] = node
        self.trace.append(record)

    async def _restart(self, i: int) -> None:
        node = self.nodes[i]
        await node.wait_exit()
        await node.start()
        await self._init(i, fatal=False)


def _encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines()
                 if x.strip() and not x.startswith("--- ")]
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines else ""


def run_external(config: ExperimentConfig) -> RunResult:
    """Run `config` (protocol external) to the end; every node process is gone afterwards.

    `runtime: ray` gives each node's process to a Ray node actor (`external_ray`);
    otherwise the processes are children of this one."""
    if config.runtime == "ray":
        from workbench.runtime.external_ray import run_external_on_ray

        return run_external_on_ray(config)
    with tempfile.TemporaryDirectory(prefix="workbench-external-") as tmp:
        return asyncio.run(ExternalRuntime(config, Path(tmp)).run())
