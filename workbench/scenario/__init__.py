"""Scripted scenarios: hand-scheduled message orders, timers and faults, as data.

`script` reads and writes the file format (etcd's datadriven style); `runner` replays a
script against the real protocol cores and prints what happened. Files live in
`tests/scenarios/`; each is a regression test (`tests/test_scenarios.py`) and can be
replayed by hand with `python -m workbench.scenario FILE [--rewrite] [-o bug=NAME]`.
"""

from workbench.scenario.runner import COMMANDS, run_script
from workbench.scenario.script import Directive, Script, parse_script

__all__ = ["COMMANDS", "Directive", "Script", "parse_script", "run_script"]
