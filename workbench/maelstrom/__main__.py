"""`python -m workbench.maelstrom raft|paxos|eventual [--seed N] [--set name=value ...]`:
one of our cores as a Maelstrom node binary (lin-kv workload) on stdin/stdout.

    maelstrom test -w lin-kv --bin run-raft.sh --node-count 5 --time-limit 20
    # run-raft.sh:  exec python -m workbench.maelstrom raft

`--set` sets one of the protocol's options (`--set read_mode=lease`), as in the
experiment file's `raft:` / `paxos:` / `eventual:` section.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys

import yaml

from workbench.maelstrom.host import MaelstromHost, serve_stdio
from workbench.protocols import options_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.maelstrom",
                                     description="Run a workbench core as a Maelstrom lin-kv node.")
    parser.add_argument("protocol", choices=["raft", "paxos", "eventual"])
    parser.add_argument("--seed", type=int, default=0, help="seeds the core's rng (with the node id)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                        help="a protocol option, e.g. read_mode=lease")
    args = parser.parse_args(argv)
    cls = options_class(args.protocol)
    names = {f.name for f in dataclasses.fields(cls)}
    updates = {}
    for text in args.sets:
        name, sep, value = text.partition("=")
        if not sep or name not in names:
            parser.error(f"--set {text}: expected NAME=VALUE with NAME one of {', '.join(sorted(names))}")
        updates[name] = yaml.safe_load(value)
    try:
        options = cls(**updates)
    except (TypeError, ValueError) as exc:
        parser.error(f"--set: {exc}")
    try:
        asyncio.run(serve_stdio(MaelstromHost(args.protocol, options, args.seed)))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
