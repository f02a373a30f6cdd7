"""The scripted-scenario file format: etcd's datadriven `testdata/*.txt`, for our cores.

A scenario file is a list of directives. Each is one command line, a `----` line, and
the output the command is expected to print, ended by a blank line:

    # comments and blank lines between directives are kept as they are
    cluster raft nodes=3 read_mode=lease
    ----
    ok

    deliver 1->2 PreVote
    ----
    1->2 #7 PreVote(term=2, last_index=1, last_term=1)
      2->1 #9 PreVoteReply(term=2, granted=True)

Arguments are words; `key=value` words are keyword arguments. The runner
(`workbench.scenario.runner`) executes the commands and compares what each prints with
the expected block; `--rewrite` writes the actual output back instead, as datadriven's
`-rewrite` flag does. An expected block may not contain a blank line (write `.` there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import UserInputError

SEPARATOR = "----"


@dataclass
class Directive:
    line: int  # 1-based line of the command in its file
    command: str
    args: list[str]
    kwargs: dict[str, str]
    expected: list[str]
    leading: list[str] = field(default_factory=list)  # comments/blank lines before it

    @property
    def text(self) -> str:
        words = [*self.args, *(f"{k}={v}" for k, v in self.kwargs.items())]
        return " ".join([self.command, *words])


@dataclass
class Script:
    path: Path
    directives: list[Directive]
    trailing: list[str]  # comments/blank lines after the last directive

    def render(self, outputs: list[list[str]]) -> str:
        """The file text with each directive's expected block replaced by `outputs`."""
        lines: list[str] = []
        for directive, output in zip(self.directives, outputs, strict=True):
            lines += directive.leading
            lines += [directive.text, SEPARATOR, *(line or "." for line in output), ""]
        lines += self.trailing
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join(lines) + "\n"


def parse_script(path: Path) -> Script:
    """Read a scenario file; a malformed one raises UserInputError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read scenario: {exc}") from None
    lines = text.splitlines()
    directives: list[Directive] = []
    leading: list[str] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            leading.append(raw)
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != SEPARATOR:
            raise UserInputError(f"{path}:{i + 1}: expected a '{SEPARATOR}' line after the command")
        words = stripped.split()
        args = [w for w in words[1:] if "=" not in w]
        kwargs = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        j = i + 2
        expected: list[str] = []
        while j < len(lines) and lines[j].strip() != "":
            expected.append("" if lines[j] == "." else lines[j])
            j += 1
        directives.append(Directive(i + 1, words[0], args, kwargs, expected, leading))
        leading = []
        i = j + 1
    return Script(path, directives, leading)
