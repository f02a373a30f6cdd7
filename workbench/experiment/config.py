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
from workbench.experiment import dotted
from workbench.faults.spec import FaultsConfig, LinkSpec
from workbench.protocols.eventual import EventualOptions
from workbench.protocols.paxos import PaxosOptions
from workbench.protocols.quorum import QuorumOptions
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
    placement: Literal["pack", "spread"] = Field(
        "pack", description="pack: actors on as few machines as possible; spread: across machines")
    client_actors: bool = Field(
        False, description="clients in actors of their own beside their node (else inside the node's actor)"
    )


class CheckConfig(BaseModel):
    """The checkers run on the history after the run."""

    model_config = ConfigDict(extra="forbid")
    linearizability: bool = Field(True, description="check the history for linearizability (Porcupine-style search)")
    max_seconds: float = Field(30.0, gt=0, description="checker budget; past it the verdict is unknown")


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("experiment", description="names the result folder and the report")
    protocol: Literal["eventual", "raft", "paxos", "quorum", "external"] = Field(
        description="the system under test: eventual (AP store), raft or paxos (CP), "
                    "quorum (Dynamo-style N/R/W store), external (Maelstrom node programs)")
    runtime: Literal["sim", "ray"] = Field(
        "sim", description="sim: deterministic simulator, virtual time; ray: a Ray actor per node, real time")
    seed: int = Field(0, description="derives every random choice; same file and seed, same sim history")
    nodes: int = Field(5, ge=1, le=31, description="cluster size; node ids are 0..nodes-1")
    duration_s: float = Field(40.0, gt=0, description="length of the run")
    workload: WorkloadConfig = Field(WorkloadConfig(), description="what the clients do")
    network: LinkSpec = LinkSpec()
    faults: FaultsConfig = FaultsConfig()
    eventual: EventualOptions = EventualOptions()
    raft: RaftOptions = RaftOptions()
    paxos: PaxosOptions = PaxosOptions()
    quorum: QuorumOptions = QuorumOptions()
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
        if self.protocol == "quorum" and self.quorum.n > self.nodes:
            raise ConfigError(f"quorum.n: {self.quorum.n} replicas per key need at least that many nodes (have {self.nodes})")
        if self.protocol == "external" and self.external is None:
            raise ConfigError("external: required field is missing (protocol external needs "
                              "external.command and external.workload)")
        if self.protocol == "external" and self.runtime == "ray" and self.ray.time_scale != 1:
            raise ConfigError("ray.time_scale: external nodes run on their own OS clock; "
                              "leave it at 1 with protocol external")
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
    elif first["type"] == "union_tag_not_found":
        key = first["ctx"]["discriminator"].strip("'")
        message = f"missing key {key!r}, which chooses the kind ({_tag_choices(key)})"
    elif first["type"] == "union_tag_invalid":
        key = first["ctx"]["discriminator"].strip("'")
        message = (f"{key}: {first['ctx']['tag']!r} is not allowed "
                   f"(one of: {first['ctx']['expected_tags'].replace(chr(39), '')})")
    elif first["type"] == "literal_error":
        message = f"{first['input']!r} is not allowed ({first['msg'][len('Input should be '):]})"
    prefix = f"{source}: " if source else ""
    return f"{prefix}{path}: {message}" if path else f"{prefix}{message}"


def _tag_choices(key: str) -> str:
    """The values a tagged union's key takes, read from the reference rows (`schema`)."""
    from workbench.schema import walk

    prefix = f"one of {key}: "
    for row in walk():
        if row.type.startswith(prefix):
            return "one of: " + row.type.removeprefix(prefix)
    return "see `workbench config --schema`"


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


MAX_YAML_DEPTH = 50
"""An experiment file nests five or six levels; deeper is a mistake or an attack."""
MAX_YAML_NODES = 200_000
"""Values after expanding aliases: a few hundred in a real file; caps "billion laughs"."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose (recursive) composer refuses deep nesting with a clean error
    instead of a RecursionError."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _too_many_nodes(value: Any) -> bool:
    """Count values as a reader of the expanded tree would see them (an alias counts each
    time it is used), stopping at the cap; iterative, so a shared subtree is cheap."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_YAML_NODES:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read experiment file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8); "
                          "expected an experiment file in YAML") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """An experiment mapping from YAML text, or ConfigError naming the line."""
    try:
        raw = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())[:200]
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to read") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the experiment file must be a YAML mapping")
    if _too_many_nodes(raw):
        raise ConfigError(f"{source}: more than {MAX_YAML_NODES:,} values once aliases are "
                          "expanded; an experiment file holds a few hundred")
    return raw


def parse_override(text: str) -> tuple[list[str], Any]:
    """`raft.read_mode=follower` -> (["raft", "read_mode"], "follower"); values are YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected key.path=value")
    path, _, value = text.partition("=")
    if not path.strip():
        raise ConfigError(f"--set {text}: empty key path")
    try:
        parsed = yaml.load(value, Loader=_BoundedLoader) if value.strip() else None  # noqa: S506
    except (yaml.YAMLError, RecursionError):
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
        if (missing := dotted.problem(result, path)) is not None:
            raise ConfigError(f"--set {text}: {missing}")
        dotted.set_resolved(result, path, value)
    return result


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    source = str(path)
    raw = apply_overrides(read_yaml(path), overrides or [], source)
    return validate_config(raw, source)


ConfigSource = ExperimentConfig | dict[str, Any] | str | Path
"""What the Python API takes as an experiment: a model, a raw mapping or a YAML path."""


def resolve(source: ConfigSource, overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """The Python API's way in: a raw config dict (not yet validated: a sweep file keeps
    its `sweep:` section for `plan_sweep`) plus keyword overrides, and the source's name
    for error messages ("" for a model or a dict).

    Keyword overrides use `__` for nesting (`raft__read_mode="follower"`) and go through
    `apply_overrides`, the same dotted-path code as `--set` and sweep grids.
    """
    if isinstance(source, ExperimentConfig):
        raw, name = source.model_dump(mode="json", by_alias=True, exclude_none=True), ""
    elif isinstance(source, dict):
        raw, name = copy.deepcopy(source), ""  # never edit the caller's dict
    else:
        raw, name = read_yaml(source), str(source)
    texts = [f"{key.replace('__', '.')}={_yaml_value(value)}"
             for key, value in (overrides or {}).items()]
    return apply_overrides(raw, texts, name), name


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def config_from(source: ConfigSource, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """`resolve`, validated: the experiment model."""
    raw, name = resolve(source, overrides)
    return validate_config(raw, name)
