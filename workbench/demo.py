"""`make demo`: the headline experiment, cap_partition, for each protocol, with its report."""

from __future__ import annotations

from pathlib import Path

from workbench.cli import _print_summary
from workbench.config import load_config
from workbench.runner import run_experiment, write_run

PROTOCOLS = ("eventual",)


def main() -> None:
    for protocol in PROTOCOLS:
        config = load_config("experiments/cap_partition.yaml", [f"protocol={protocol}"])
        out = Path("data/demo") / f"cap_partition-{protocol}"
        output = run_experiment(config)
        write_run(output, out, report=False)
        print(f"== {protocol} ({config.runtime}) -> {out}")
        _print_summary(output.summary)


if __name__ == "__main__":
    main()
