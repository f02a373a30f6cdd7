"""`python -m workbench.scenario FILE... [--rewrite] [-o option=value]`.

Replays each scenario and compares its output with the expected blocks in the file.
Exit 0 when every file matches, 1 when one differs (the first difference is printed),
2 on a bad file or argument (one line). `--rewrite` writes the actual output back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.errors import UserInputError
from workbench.scenario.runner import run_script
from workbench.scenario.script import parse_script


def first_difference(expected: list[str], actual: list[str]) -> str:
    for k, (e, a) in enumerate(zip(expected, actual, strict=False)):
        if e != a:
            return f"output line {k + 1}: expected {e!r}, got {a!r}"
    return f"expected {len(expected)} output lines, got {len(actual)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.scenario",
                                     description="Replay scripted protocol scenarios.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--rewrite", action="store_true", help="write the actual output back")
    parser.add_argument("-o", dest="options", action="append", default=[], metavar="OPTION=VALUE",
                        help="extra cluster option, e.g. bug=lease_vote_by_term (repeats)")
    args = parser.parse_args(argv)
    overrides = dict(o.split("=", 1) for o in args.options if "=" in o)
    status = 0
    try:
        for path in args.files:
            script = parse_script(path)
            outputs = run_script(script, overrides)
            if args.rewrite:
                path.write_text(script.render(outputs), encoding="utf-8")
                continue
            for directive, output in zip(script.directives, outputs, strict=True):
                if directive.expected != output:
                    print(f"{path}:{directive.line}: {directive.text}: "
                          f"{first_difference(directive.expected, output)}")
                    status = 1
                    break
            else:
                print(f"{path}: ok")
    except UserInputError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
