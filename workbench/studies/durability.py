"""What durability costs: `experiments/durability.yaml` as a table and a plot.

    workbench sweep experiments/durability.yaml --out data/durability
    python -m workbench.studies.durability data/durability [--png docs/durability.png]

One row per protocol and disk model: ok-op latency p50/p99 and throughput (ok ops per
second). Raft and Multi-Paxos put an fsync on the leader and one on a follower quorum
in every write's path; the eventual store one local fsync. Without group commit the
fsyncs of one node run one after another, so a busy leader queues behind its own disk.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def disk_label(raw: object) -> str:
    """`off`, a preset name, or the fsync distribution, from the sweep's `faults.disk` column."""
    if raw is None or raw == "null" or (isinstance(raw, float) and pd.isna(raw)):
        return "off"
    spec = json.loads(raw) if isinstance(raw, str) else dict(raw)  # type: ignore[call-overload]
    name = spec.get("preset") or "fsync " + ",".join(f"{v}" for k, v in spec.get("fsync", {}).items()
                                                     if k != "dist")
    return name + (" +group" if spec.get("group_commit") else "")


def durability_table(summary: pd.DataFrame) -> pd.DataFrame:
    """p50/p99 latency (ms) and throughput (ok ops/s) per protocol and disk."""
    return (summary
            .assign(disk=lambda d: d["faults.disk"].map(disk_label),
                    throughput_ops_s=lambda d: d["ok"] / d["duration_s"])
            .groupby(["protocol", "disk"], sort=False)[
                ["latency_p50_ms", "latency_p99_ms", "throughput_ops_s"]]
            .mean()
            .reset_index())


def plot_durability(table: pd.DataFrame, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    tidy = table.melt(id_vars=["protocol", "disk"], value_vars=["latency_p50_ms", "latency_p99_ms"],
                      var_name="percentile", value_name="ms")
    grid = sns.catplot(tidy, x="disk", y="ms", hue="protocol", col="percentile", kind="bar",
                       height=3.5, aspect=1.3)
    grid.set(yscale="log")
    grid.figure.suptitle("What durability costs: ok-op latency by disk model", y=1.03)
    grid.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(grid.figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the sweep's result folder (summary.parquet)")
    parser.add_argument("--png", type=Path, help="write the plot here")
    args = parser.parse_args(argv)
    table = durability_table(pd.read_parquet(args.folder / "summary.parquet"))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if args.png:
        plot_durability(table, args.png)


if __name__ == "__main__":
    main()
