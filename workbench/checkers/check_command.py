"""The body of `workbench check FILE... [--model M] [--format F] [--json] [--max-seconds S]`.

The CLI (typer) parses the arguments and calls `check_files`; this module owns what is
printed and the exit code:
- 0 every file is linearizable;
- 1 some file is not linearizable (even if another one is unknown: a violation is the
  stronger finding);
- 3 some file is unknown (the budget ran out) or empty (no operations: nothing was
  checked), and none is not linearizable;
- 2 bad input: one line on stderr naming the file (and line), nothing on stdout. Every
  file is read and checked against its model before anything is printed.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from workbench.checkers.linearizability import (
    NOT_LINEARIZABLE,
    UNKNOWN,
    LinearizabilityResult,
    Witness,
    check_linearizability,
)
from workbench.checkers.models import get_model
from workbench.checkers.pairing import Op, pair_ops
from workbench.errors import HistoryFormatError, UserInputError
from workbench.history.importers import load_history
from workbench.history.limits import short_repr

EXIT_OK, EXIT_VIOLATION, EXIT_BAD_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3
EMPTY = "empty"
_PREFIX_TAIL = 5  # prefix ops shown before the point where the search got stuck


def check_files(files: list[str], *, model: str | None, fmt: str | None, as_json: bool,
                max_seconds: float | None, out: TextIO | None = None,
                err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        loaded = [_load(path, model, fmt) for path in files]
    except UserInputError as exc:
        print(f"workbench: error: {exc}", file=err)
        return EXIT_BAD_INPUT

    verdicts = []
    for path, events, chosen in loaded:
        result = check_linearizability(events, chosen, max_seconds=max_seconds)
        # No operations: nothing was checked, so not "linearizable" (issue 18).
        verdict = EMPTY if result.ops == 0 else result.verdict
        verdicts.append(verdict)
        if as_json:
            record = {"file": path, "verdict": verdict, "ops": result.ops,
                      "ms": round(result.elapsed_ms, 3)}
            print(json.dumps(record), file=out)
        elif verdict == EMPTY:
            print(f"{path}: empty (no operations to check)", file=out)
        else:
            print(describe(path, events, result), file=out)
    if NOT_LINEARIZABLE in verdicts:
        return EXIT_VIOLATION
    if UNKNOWN in verdicts or EMPTY in verdicts:
        return EXIT_UNKNOWN  # undecided: the budget ran out, or there was nothing to decide
    return EXIT_OK


def _load(path: str, model: str | None, fmt: str | None) -> tuple[str, list[dict[str, Any]], str]:
    events, suggested = load_history(path, fmt)
    chosen = model or suggested
    try:
        spec = get_model(chosen)
    except ValueError as exc:
        raise UserInputError(f"--model: {exc}") from None
    for op in pair_ops(events):
        problem = spec.problem(op.f, op.value)
        if problem is None and op.type == "ok":
            problem = spec.result_problem(op.f, op.result)
        if problem is not None:
            raise HistoryFormatError(
                path, None, f"op {op.id} (process {op.process}, {op.f} {short_repr(op.value)}): {problem}")
    return path, events, chosen


def describe(path: str, events: list[dict[str, Any]], result: LinearizabilityResult) -> str:
    """A verdict line, and for a violation the witness, readable in a terminal."""
    head = (f"{path}: {result.verdict} ({result.ops} ops, model {result.model}, "
            f"{result.elapsed_ms:.1f} ms)")
    if result.verdict == UNKNOWN:
        decided = sum(v != UNKNOWN for v in result.per_key.values())
        head += f" - budget ran out after {result.states} states; {decided}/{len(result.per_key)} keys decided"
    if result.witness is None:
        return head
    return head + "\n" + describe_witness(result.witness, {o.id: o for o in pair_ops(events)})


def describe_witness(witness: Witness, ops: dict[int, Op]) -> str:
    key = "" if witness.key is None else f" key {witness.key!r}:"
    lines = [f" {key} longest linearizable prefix: {len(witness.prefix)} ops, "
             f"ending in state {witness.final_state!r}"]
    shown = witness.prefix[-_PREFIX_TAIL:]
    if len(witness.prefix) > len(shown):
        lines.append(f"    ... {len(witness.prefix) - len(shown)} earlier ops")
    for op_id, state in shown:
        lines.append(f"    {_op_text(ops[op_id])}  -> {state!r}")
    lines.append("  none of these can be placed next:")
    for stuck in witness.unplaceable:
        lines.append(f"    {_op_text(ops[stuck.op])}")
    return "\n".join(lines)


def _op_text(op: Op) -> str:
    what = f"{op.f} {op.value!r}" if op.f not in ("read", "get") else op.f
    if op.type == "ok" and op.f in ("read", "get"):
        what += f" -> {op.result!r}"
    done = "never (info)" if op.complete_time is None else f"{op.complete_time:g}"
    return f"op {op.id} process {op.process}: {what} [{op.invoke_time:g} .. {done}]"
