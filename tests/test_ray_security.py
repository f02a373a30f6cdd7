"""A Ray the workbench starts for itself is private (DESIGN.md, "Security").

During a Ray-actor run every listening socket of the Ray processes (this driver and its
descendants: GCS, raylet, agents, workers) is on loopback; a request without the token
is refused over gRPC (GCS) and HTTP (dashboard agent); the token file is the user's
alone. Joining a cluster without a token is one clear error.
"""

from __future__ import annotations

import os
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ray_support import descendants, is_loopback, listeners, token_of_session

from workbench.experiment.config import config_from
from workbench.runtime.ray_session import RayStartError, join_token_env

pytestmark = pytest.mark.ray


def test_is_loopback_reads_ipv4_mapped_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.0.2.2")


def test_every_ray_listener_is_on_loopback_during_a_run(ray_session: None) -> None:
    from workbench.runtime.ray_cluster import Cluster

    config = config_from({"protocol": "raft", "runtime": "ray", "nodes": 3, "duration_s": 2,
                          "workload": {"clients": 3}})
    cluster = Cluster(config, client_actors=True)
    try:
        cluster.launch()  # node and client actors are up: their workers listen too
        found = listeners(descendants())
    finally:
        cluster.stop()
    names = {entry.process for entry in found}
    assert {"gcs_server", "raylet"} <= names, names
    assert sum(entry.process.startswith("ray::") for entry in found) >= 3
    for entry in sorted(found, key=lambda e: (e.process, e.port)):
        print(f"listener {entry.process:24} pid {entry.pid:7} {entry.ip}:{entry.port}")
    exposed = [entry for entry in found if not entry.loopback]
    assert not exposed, f"Ray listeners off loopback: {exposed}"


def test_the_token_file_is_private(ray_session: None) -> None:
    path = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(token_of_session()) >= 32


def test_gcs_refuses_a_call_without_the_token(ray_session: None) -> None:
    import grpc
    import ray
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    address = ray.get_runtime_context().gcs_address
    request = gcs_service_pb2.GetAllNodeInfoRequest()
    with grpc.insecure_channel(address) as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetAllNodeInfo(request, timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # The same call with the token goes through: the refusal is the missing token.
        reply = stub.GetAllNodeInfo(request, timeout=30, metadata=[
            ("authorization", f"Bearer {token_of_session()}")])
        assert len(reply.node_info_list) >= 1


def test_dashboard_agent_refuses_http_without_the_token(ray_session: None) -> None:
    import ray

    port = ray._private.worker.global_worker.node.dashboard_agent_listen_port
    url = f"http://127.0.0.1:{port}/api/job_agent/jobs/nonexistent"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token_of_session()}"})
    try:
        urllib.request.urlopen(request, timeout=30)
        status = 200
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status != 401


def test_joining_without_a_token_is_one_clear_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(RayStartError, match=r"needs its token.*RAY_AUTH_TOKEN_PATH"):
        join_token_env("10.0.0.7:6379")


def test_joining_tightens_a_readable_token_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "auth_token"
    token.write_text("x" * 64)
    token.chmod(0o644)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    env = join_token_env("10.0.0.7:6379")
    assert env == {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
