"""A counterexample as a scripted scenario (tests/scenarios style) that replays it.

The explorer's transitions are scenario directives already, so the file is the
`cluster` line, the trace, and a final `check`; the expected blocks are filled by
running the script once (the runner is deterministic), exactly as `--rewrite` does.
"""

from __future__ import annotations

from pathlib import Path

from workbench.explore.bfs import Result
from workbench.explore.model import as_directive
from workbench.scenario.runner import run_script
from workbench.scenario.script import Directive, Script


def to_script(result: Result, path: Path) -> Script:
    scope = result.scope
    header = [f"# Counterexample found by `workbench explore {scope.protocol}` (issue 13):",
              f"# {result.violation}",
              f"# scope: nodes={scope.nodes} clients={scope.clients} ops={scope.ops} crashes={scope.crashes} "
              f"cuts={scope.cuts} drops={scope.drops} max_latency_ms={scope.max_latency_ms:g}; "
              f"{len(result.trace)} steps ({len(scope.prefix)} of them a given prefix), "
              f"{getattr(result, 'distinct', getattr(result, 'runs', 0))} states/runs explored."]
    cluster = scope.cluster_directive()
    cluster.leading = header
    directives = [cluster]
    for k, (command, args) in enumerate(result.trace, start=2):
        directives.append(as_directive(k, command, list(args)))
    # The lease-overlap property (`Scope.lease_check`) is checked by the replay too.
    final = ["lease"] if scope.lease_check else []
    directives.append(Directive(len(directives) + 1, "check", final, {}, []))
    return Script(path, directives, [])


def write_counterexample(result: Result, path: Path) -> list[list[str]]:
    """Write the replayable scenario to `path`; returns what each directive printed."""
    script = to_script(result, path)
    outputs = run_script(script)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script.render(outputs), encoding="utf-8")
    from workbench.explore.chart import draw_chart

    draw_chart(script.directives, outputs, nodes=result.scope.nodes, path=path.with_suffix(".png"))
    return outputs
