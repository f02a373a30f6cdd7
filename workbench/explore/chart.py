"""The counterexample as a message-sequence chart (PNG): one lifeline per node, time downwards.

Drawn from what the replayed scenario printed: an indented `A->B #N Type(...)` line is a
send at that step, an unindented one its delivery; a message never delivered ends in a
cross. Timers, crashes, client ops and invariant trips are written beside the lifeline.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.scenario.script import Directive

_MESSAGE = re.compile(r"^(\s*)(\d+)->(\d+) #(\d+) (\w+)")


def draw_chart(directives: list[Directive], outputs: list[list[str]], *, nodes: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = len(directives)
    fig, ax = plt.subplots(figsize=(2.2 * nodes + 3, 0.45 * steps + 1.5))
    for i in range(nodes):
        ax.plot([i, i], [0, steps], color="0.6", lw=1)
        ax.text(i, -0.4, f"node {i}", ha="center", fontsize=9, weight="bold")
    sent: dict[int, tuple[int, int, int, str]] = {}
    for t, (directive, output) in enumerate(zip(directives, outputs, strict=True), start=1):
        ax.text(nodes - 0.5, t, directive.text[:40], fontsize=7, va="center", color="0.3")
        for line in output:
            match = _MESSAGE.match(line)
            if match:
                indent, src, dst, number, kind = match.groups()
                if indent:
                    sent[int(number)] = (int(src), int(dst), t, kind)
                elif int(number) in sent:
                    a, b, t0, _ = sent.pop(int(number))
                    ax.annotate("", xy=(b, t), xytext=(a, t0),
                                arrowprops={"arrowstyle": "->", "color": "tab:blue", "lw": 1})
                    ax.text((a + b) / 2, (t0 + t) / 2, kind, fontsize=6, ha="center", color="tab:blue")
            elif "INVARIANT VIOLATED" in line or line == "not linearizable":
                ax.text(0, t + 0.3, line.strip()[:90], fontsize=8, color="red")
        for word, color in (("crash", "red"), ("restart", "green"), ("timer", "purple"), ("client", "black")):
            if directive.command == word and directive.args:
                ax.plot([int(directive.args[0])], [t], marker="o", color=color)
    for a, b, t0, _kind in sent.values():  # never delivered
        ax.plot([a + (b - a) * 0.3], [t0 + 0.3], marker="x", color="tab:gray")
        ax.annotate("", xy=(a + (b - a) * 0.3, t0 + 0.3), xytext=(a, t0),
                    arrowprops={"arrowstyle": "-", "color": "tab:gray", "ls": "--"})
    ax.set_ylim(steps + 1, -1)
    ax.set_xlim(-0.6, nodes + 1.8)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
