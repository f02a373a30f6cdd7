"""Client operations as a node sees them.

`f` and `value` follow DESIGN.md's history format:
- register: `read` (value None), `write` (value v), `cas` (value (expected, new));
- set: `add` (value v), `read` (value None; the reply is a sorted tuple of elements).
"""

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from workbench.core.frozen import fast_init
from workbench.core.ids import ProcessId

OpKind: TypeAlias = Literal["read", "write", "cas", "add"]


@fast_init
@dataclass(frozen=True, slots=True)
class ClientRequest:
    """One invocation. (process, seq) is unique per run and lets a store deduplicate retries."""

    process: ProcessId
    seq: int
    f: OpKind
    key: str
    value: Any = None

    @property
    def request_id(self) -> tuple[ProcessId, int]:
        return (self.process, self.seq)
