"""The `external:` section of an experiment file: node programs that speak Maelstrom's protocol.

    protocol: external
    external:
      command: ["python3", "examples/maelstrom/echo.py"]
      workload: echo

`command` is run once per node (with `{python}` replaced by the workbench's own
interpreter, so `["{python}", "-m", "workbench.maelstrom", "raft"]` needs no PATH).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ExternalWorkload = Literal["echo", "lin-kv", "broadcast", "g-set", "g-counter"]


class ExternalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(..., min_length=1, description="argv of one node process")
    workload: ExternalWorkload = Field(..., description="Maelstrom workload the nodes implement")
    init_timeout_s: float = Field(
        10.0, gt=0, description="a node that has not answered `init` by then fails the run")
    grace_s: float = Field(
        2.0, ge=0, description="after the run: time for late replies before nodes are killed")
    topology: Literal["grid", "line", "total"] = Field(
        "grid", description="broadcast: the `topology` message sent after init (Maelstrom's default is grid)")
    max_line_bytes: int = Field(
        1 << 20, ge=1024, description="a longer stdout line from a node is dropped as malformed")

    @field_validator("command")
    @classmethod
    def _no_empty_program(cls, command: list[str]) -> list[str]:
        if not command[0].strip():
            raise ValueError("the program (first word) is empty")
        return command
