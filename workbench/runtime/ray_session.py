"""Starting and joining Ray: private by default (DESIGN.md, "Security").

`ray_session` (and `start_session`/`end_session` under it) is the one way the workbench
gets a Ray: the Ray runtime (`ray_actors.run_on_ray`), the sweep's executor
(`experiment.execute`), `workbench search` and the tests all use it. Nothing happens if this process has Ray already.

- **Local** (no address): a raylet of our own, started from this process, private:
  - every listener on loopback: the node address is 127.0.0.1, and Ray 2.60 binds its
    GCS, raylet, object manager, workers and both agents to the node address when that
    is loopback (and to `*` or the machine's address otherwise);
  - no dashboard;
  - token authentication on, with a fresh random token in a 0600 file in a 0700
    directory of its own (`RAY_AUTH_TOKEN_PATH`), deleted when the session ends —
    never Ray's default `~/.ray/auth_token`, which Ray writes with mode 0644.
- **Join** (`address`, else `RAY_ADDRESS`): the cluster's token from `RAY_AUTH_TOKEN`,
  the file `RAY_AUTH_TOKEN_PATH` names, or `~/.ray/auth_token` (tightened to 0600 if
  other users could read it); without one, one clear error saying where to put it.

The local raylet is started with fixed agent ports (free loopback ports picked here):
with port 0 the raylet waits a hard-coded 15 s for the dashboard agent to report its
port and aborts if the agent is slower, which it is on a loaded machine
(ray-project/ray#65983). A start that still times out is retried once.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

import workbench
from workbench.errors import UserInputError

LOOPBACK = "127.0.0.1"
AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_agent_register_timeout_ms",
            "RAY_worker_register_timeout_seconds", "RAY_worker_niceness")
"""The environment a session may change; restored when it ends."""
START_ATTEMPTS = 2
"""A local start is tried twice: a second try usually gets through a start-up timeout
on a loaded machine, a third rarely helps."""
AGENT_TIMEOUT_MS = 120_000
"""How long the raylet waits to reach its agents (Ray's default: 30 s). A busy 2-core
machine starts the dashboard agent in tens of seconds (55 s seen at load 30)."""
WORKER_REGISTER_TIMEOUT_S = 600
"""How long a raylet waits for a new worker process to register (Ray's default: 60 s).
At load 25-45 a worker's `import ray` alone took over 60 s: the raylet killed it and
the driver's registration waited forever."""
WORKER_NICENESS = 0
"""The nice value of the worker processes our raylets start, where Ray's default is 15.
Ray lowers its workers' priority so that its own raylet and GCS stay responsive. But
our node actors are real-time processes: at nice 15 each one weighs 36 against 1,024
for any ordinary process on the machine (the kernel's CFS weights). Beside 4 busy
processes, our 5-node Raft on Ray then got 115 empty actor calls/s (2,100-2,800 on a
quiet machine), messages arrived 1.5-6.4 s after their due time, leaders changed 4-5
times in 15 s, and not one op committed, while PySyncObj at nice 0 committed
4,600-8,800 ops/s beside the same burners (benchmarks/ray_runtime.py, issue 17). At
nice 0 a run competes for the CPU as an equal, like the processes it is compared with.
"""


class RayStartError(UserInputError):
    """Ray could not be started or joined, or the actors could not be placed."""


def default_token_path() -> Path:
    return Path.home() / ".ray" / "auth_token"


# ---------------------------------------------------------------- the environment
def set_env(changes: dict[str, str | None]) -> dict[str, str | None]:
    """Apply `changes` (None removes a variable); returns what `AUTH_ENV` held before."""
    saved = {name: os.environ.get(name) for name in AUTH_ENV}
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _reset_token_cache()
    return saved


def _reset_token_cache() -> None:
    # Ray's C++ side caches its config (RAY_AUTH_MODE) and the first token it read.
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def write_private_token(directory: Path) -> Path:
    """A fresh random token in `directory`/auth_token, mode 0600 from creation on (no
    moment at which another user could open it)."""
    path = directory / "auth_token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path


def private_local_env(token_path: Path) -> dict[str, str | None]:
    """The environment under which Ray processes started from here are private; they
    inherit it. `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` keeps a loopback node address as
    it is (see `loopback_node_address`)."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": None,
            "RAY_AUTH_TOKEN_PATH": str(token_path), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_agent_register_timeout_ms": str(AGENT_TIMEOUT_MS),
            "RAY_worker_register_timeout_seconds": str(WORKER_REGISTER_TIMEOUT_S),
            "RAY_worker_niceness": str(WORKER_NICENESS)}


def join_token_env(address: str) -> dict[str, str | None]:
    """The token to join `address` with: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH
    names, else ~/.ray/auth_token (Ray's own order); a missing one is one clear error."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}  # the user says this cluster runs without authentication
    if os.environ.get("RAY_AUTH_TOKEN"):
        return {"RAY_AUTH_MODE": "token"}
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    path = Path(named).expanduser() if named else default_token_path()
    if not path.is_file():
        raise RayStartError(
            f"ray: joining the cluster at {address} needs its token: copy the head's token "
            f"file to {path} (mode 600), or set RAY_AUTH_TOKEN_PATH to it (docs/cluster.md)")
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and info.st_uid == os.getuid():
        # Ray writes ~/.ray/auth_token with the umask (0644): anyone on the machine could
        # read it and submit jobs as this user. Tighten, never loosen, the user's file.
        path.chmod(0o600)
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)}


@contextlib.contextmanager
def loopback_node_address() -> Iterator[None]:
    """Let a node address of 127.0.0.1 stand. Ray replaces a loopback node address by the
    machine's outward one unless multi-node clusters are "disabled" (its macOS/Windows
    mode), a switch it reads from RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when first imported;
    in a process that imported Ray already it is flipped here. The socket test
    (tests/test_ray_security.py) fails if a Ray upgrade changes this."""
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


# ---------------------------------------------------------------- local raylets
def free_port(ip: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((ip, 0))
        return int(probe.getsockname()[1])


def start_local_raylet(num_cpus: int, *, gcs_address: str | None = None,
                       object_store_mb: int | None = None, node_ip: str = LOOPBACK,
                       gcs_port: int | None = None) -> Any:
    """A raylet started from this process (its processes are our children and are ended
    by pid: `stop_local_raylet`), on loopback unless `node_ip` says otherwise. Without
    `gcs_address` it is a head (with its GCS, on `gcs_port` if given); with one, it joins
    that head. Call with the token in the environment (`private_local_env`)."""
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    loopback = node_ip == LOOPBACK
    for attempt in range(1, START_ATTEMPTS + 1):
        params = RayParams(
            num_cpus=num_cpus, num_gpus=0, node_ip_address=node_ip, include_dashboard=False,
            gcs_server_port=gcs_port, min_worker_port=0, max_worker_port=0,
            object_store_memory=object_store_mb * 1024 * 1024 if object_store_mb else None,
            # Fixed agent ports: the raylet does not wait (15 s, hard-coded) for port files.
            metrics_agent_port=free_port(node_ip), metrics_export_port=free_port(node_ip),
            dashboard_agent_listen_port=free_port(node_ip), runtime_env_agent_port=free_port(node_ip))
        if gcs_address is not None:
            params.update_if_absent(redis_address=gcs_address, gcs_address=gcs_address,
                                    include_log_monitor=False, node_manager_port=0)
        # Constructed in two steps so that a start that times out half-way (Ray waits a
        # hard-coded 30 s for the raylet to register) can still be ended by pid.
        node = Node.__new__(Node)
        try:
            with (loopback_node_address() if loopback else contextlib.nullcontext(),
                  _raylet_told_listen_port(params.dashboard_agent_listen_port)):
                node.__init__(params, head=gcs_address is None, shutdown_at_exit=True,
                              spawn_reaper=True)
            return node
        except Exception as exc:  # Ray raises a bare Exception on a start-up timeout
            stop_local_raylet(node)
            if attempt == START_ATTEMPTS or "timed out" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _raylet_told_listen_port(port: int) -> Iterator[None]:
    """Pass the agent's HTTP port to the raylet too. Ray 2.60 gives it to the agent but not
    to the raylet (which has the flag), so the raylet waits for the agent's port file
    (15 s, then it aborts: ray-project/ray#65983) even when the port is fixed."""
    from ray._private import ray_constants, services

    original = services.start_ray_process

    def start(command: list[str], process_type: str, *args: Any, **kwargs: Any) -> Any:
        if process_type == ray_constants.PROCESS_TYPE_RAYLET:
            command = [*command, f"--dashboard_agent_listen_port={port}"]
        return original(command, process_type, *args, **kwargs)

    services.start_ray_process = start
    try:
        yield
    finally:
        services.start_ray_process = original


def stop_local_raylet(node: Any) -> None:
    with contextlib.suppress(Exception):
        node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)


# ---------------------------------------------------------------- the session
@dataclass
class _Session:
    """What this process changed to start or join Ray, undone by `end_session`."""

    saved_env: dict[str, str | None]
    token_dir: Path | None = None
    raylets: list[Any] = field(default_factory=list)


_session: _Session | None = None


def _start_error(address: str | None, exc: BaseException) -> RayStartError:
    where = f"the Ray cluster at {address}" if address else "a local Ray"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = repr(exc.__cause__ or exc).lower()
    hint = ""
    if address and ("auth" in text or "unauthenticated" in text):
        hint = " (token refused: use the head's token file, see docs/cluster.md)"
    elif not address:
        hint = "; --workers 1 runs a sweep without Ray"
    return RayStartError(f"ray: cannot start or join {where}: {first}{hint}")


def start_session(address: str | None = None, num_cpus: int | None = None,
                  runtime_env: dict[str, Any] | None = None) -> bool:
    """Start or join Ray unless this process already has it; True if this call did.

    `address` (else `RAY_ADDRESS`): join that cluster with its token; the workers run
    the driver's copy of the `workbench` package (`py_modules`). Else a private local
    Ray of `num_cpus` cores (default: all); a `ray start` cluster on this machine is
    never joined by accident."""
    global _session
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _session = _Session(set_env(join_token_env(address)))
    else:
        token_dir = Path(tempfile.mkdtemp(prefix="workbench-ray-"))  # mode 0700
        _session = _Session(set_env(private_local_env(write_private_token(token_dir))), token_dir)
    common: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    try:
        if address:
            # A cluster on loopback is on this machine: this driver's node address is
            # loopback too, else Ray looks for a raylet at the machine's outward address.
            on_loopback = address.split(":")[0] in ("127.0.0.1", "localhost")
            try:
                with loopback_node_address() if on_loopback else contextlib.nullcontext():
                    ray.init(address=address, runtime_env=runtime_env or {
                        "py_modules": [str(Path(workbench.__file__).resolve().parent)]}, **common)
            except Exception as exc:  # ray.init raises bare Exceptions and ConnectionErrors
                raise _start_error(address, exc) from exc
            return True
        try:
            head = start_local_raylet(num_cpus or os.cpu_count() or 1)
            _session.raylets.append(head)
            with loopback_node_address():
                ray.init(address=head.gcs_address, **common)
        except Exception as exc:  # a start-up timeout, twice: a bare Exception
            raise _start_error(None, exc) from exc
    except BaseException:
        end_session()
        raise
    return True


def end_session() -> None:
    """Shut down the Ray this process started or joined through `start_session`, end its
    raylets, restore the environment and delete the private token. Safe to call twice."""
    global _session
    session, _session = _session, None
    if session is None:
        return
    with contextlib.suppress(Exception):
        ray.shutdown()
    for node in session.raylets:
        stop_local_raylet(node)
    set_env(session.saved_env)
    if session.token_dir is not None:
        shutil.rmtree(session.token_dir, ignore_errors=True)


atexit.register(end_session)


@contextlib.contextmanager
def local_cluster(raylets: int, cpus_each: int = 1, *,
                  object_store_mb: int | None = 200) -> Iterator[list[Any]]:
    """A private cluster of `raylets` raylets on this machine (a head and `raylets - 1`
    workers of `cpus_each` CPUs), joined by this process as a user's `--address` would:
    yields the nodes, head first (`nodes[0].gcs_address`). Loopback and a 0600 token as
    a local session; every process is ended by pid at the end. For the multi-raylet
    tests and `benchmarks/sweep_scaling.py --cluster`: a real multi-node cluster's
    scheduling (tasks spread over raylets, each with its own worker pool) on one box."""
    end_session()
    if ray.is_initialized():
        ray.shutdown()
    started: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="workbench-ray-cluster-") as tmp:
        saved = set_env(private_local_env(write_private_token(Path(tmp))))
        try:
            head = start_local_raylet(cpus_each, object_store_mb=object_store_mb)
            started.append(head)
            for _ in range(raylets - 1):
                started.append(start_local_raylet(cpus_each, gcs_address=head.gcs_address,
                                                  object_store_mb=object_store_mb))
            with loopback_node_address():
                start_session(head.gcs_address)
            yield started
        finally:
            end_session()
            for node in reversed(started):
                stop_local_raylet(node)
            set_env(saved)


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None, *,
                keep: bool = False) -> Iterator[bool]:
    """Ray for the body of a `with`: yields True if it was started (or joined) here.

    A Ray this process already had is left alone. One started here is shut down at the
    end unless `keep` (a notebook's next sweep; the CLI's run ends with the process)."""
    started = start_session(address, num_cpus)
    try:
        yield started
    finally:
        if started and not keep:
            end_session()
