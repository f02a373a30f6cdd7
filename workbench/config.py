"""The experiment file: pydantic models, YAML loading and `--set` overrides.

Every model forbids unknown fields so a misspelled option is an error, not a silently
ignored default. Errors reach the user as one line naming the field path
(`ConfigError`), e.g. `experiments/x.yaml: raft.read_mod: unknown field`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.errors import ConfigError
from workbench.faults.spec import FaultsConfig, LinkSpec
from workbench.protocols.eventual import EventualOptions
from workbench.protocols.paxos import PaxosOptions
from workbench.protocols.raft import RaftOptions
from workbench.runtime.external_spec import ExternalConfig
from workbench.workload.spec import WorkloadConfig


class SimConfig(BaseModel):
    """Knobs of the deterministic simulator."""

    model_config = ConfigDict(extra="forbid")
    client_latency_ms: float = Field(0.2, ge=0, description="client <-> its own node, one way")
    digest_interval_ms: float = Field(
        50.0, gt=0, description="how often replica state digests are sampled (convergence)"
    )
    invariants: bool = Field(False, description="check protocol invariants after every step")


class RayConfig(BaseModel):
    """Knobs of the Ray actor runtime."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(None, description="join this Ray cluster (else RAY_ADDRESS, else local)")
    num_cpus: int | None = Field(None, ge=1, description="local cluster size; default all cores")
    flush_interval_ms: float = Field(2.0, gt=0, description="batch messages to one peer this long")
    time_scale: float = Field(1.0, gt=0, description="protocol ms per wall ms (2 = twice as fast)")
    placement: Literal["pack", "spread"] = "pack"
    client_actors: bool = Field(
        False, description="clients in actors of their own beside their node (else inside the node's actor)"
    )


class CheckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    linearizability: bool = True
    max_seconds: float = Field(30.0, gt=0, description="checker budget; past it the verdict is unknown")


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "experiment"
    protocol: Literal["eventual", "raft", "paxos", "external"]
    runtime: Literal["sim", "ray"] = "sim"
    seed: int = 0
    nodes: int = Field(5, ge=1, le=31)
    duration_s: float = Field(40.0, gt=0)
    workload: WorkloadConfig = WorkloadConfig()
    network: LinkSpec = LinkSpec()
    faults: FaultsConfig = FaultsConfig()
    eventual: EventualOptions = EventualOptions()
    raft: RaftOptions = RaftOptions()
    paxos: PaxosOptions = PaxosOptions()
    external: ExternalConfig | None = Field(
        None, description="protocol external: Maelstrom node programs (workbench/runtime/external.py)")
    sim: SimConfig = SimConfig()
    ray: RayConfig = RayConfig()
    check: CheckConfig = CheckConfig()
    sweep: dict[str, Any] | None = Field(
        None, description="grid of config paths to values; expanded by `workbench sweep`"
    )

    @model_validator(mode="after")
    def _nodes_exist(self) -> ExperimentConfig:
        self.faults.check_nodes(self.nodes)
        if self.protocol == "external" and self.external is None:
            raise ConfigError("external: required field is missing (protocol external needs "
                              "external.command and external.workload)")
        if self.protocol == "external" and self.runtime == "ray":
            raise ConfigError("runtime: protocol external runs its own node processes in real "
                              "time (leave runtime at sim; `workbench sweep` fans external runs out on Ray)")
        if self.protocol == "external" and self.faults.clocks:
            raise ConfigError("faults.clocks: external nodes read their own OS clock; "
                              "clock faults are not supported with protocol external")
        return self

    @property
    def clients(self) -> int:
        return self.workload.clients or 2 * self.nodes

    @property
    def duration_ms(self) -> float:
        return self.duration_s * 1000.0

    def protocol_options(self) -> Any:
        return getattr(self, self.protocol)


# ---------------------------------------------------------------- loading
def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    path = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-after"))
    message = first["msg"]
    if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "literal_error":
        message = f"{first['input']!r} is not allowed ({first['msg'][len('Input should be '):]})"
    prefix = f"{source}: " if source else ""
    return f"{prefix}{path}: {message}" if path else f"{prefix}{message}"


def validate_config(raw: Any, source: str = "") -> ExperimentConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the experiment file must be a YAML mapping")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    except ConfigError as exc:  # raised by a validator with its own field path
        raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read experiment file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the experiment file must be a YAML mapping")
    return raw


def parse_override(text: str) -> tuple[list[str], Any]:
    """`raft.read_mode=follower` -> (["raft", "read_mode"], "follower"); values are YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected key.path=value")
    path, _, value = text.partition("=")
    if not path.strip():
        raise ConfigError(f"--set {text}: empty key path")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return path.strip().split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str = "") -> dict[str, Any]:
    """Apply `--set` overrides to a raw config dict; a path that does not exist is an error.

    Overrides are applied to the fully resolved config (defaults included), so
    `--set raft.read_mode=lease` works even when the file has no `raft:` section;
    a numeric path part indexes a list (`faults.partitions.0.duration=5`).
    """
    if not overrides:
        return raw
    result = validate_config(raw, source).model_dump(by_alias=True)
    for text in overrides:
        path, value = parse_override(text)
        container: Any = result
        for depth, part in enumerate(path):
            key: Any = part
            if isinstance(container, list) and part.isdigit() and int(part) < len(container):
                key = int(part)
            elif not isinstance(container, dict) or part not in container:
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"--set {text}: no field {where!r} in the experiment config")
            if depth == len(path) - 1:
                container[key] = value
            else:
                container = container[key]
    return result


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    source = str(path)
    raw = apply_overrides(read_yaml(path), overrides or [], source)
    return validate_config(raw, source)


def config_from(source: ExperimentConfig | dict[str, Any] | str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """The Python API's way in: a model, a dict or a path, plus keyword overrides.

    Keyword overrides use `__` for nesting: `raft__read_mode="follower"`.
    """
    if isinstance(source, ExperimentConfig):
        raw = source.model_dump(by_alias=True, exclude_none=True)
        name = ""
    elif isinstance(source, dict):
        raw, name = copy.deepcopy(source), ""
    else:
        raw, name = read_yaml(source), str(source)
    texts = [f"{k.replace('__', '.')}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
             for k, v in (overrides or {}).items()]
    return validate_config(apply_overrides(raw, texts, name), name)
