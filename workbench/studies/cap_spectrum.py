"""The CAP spectrum: `experiments/cap_spectrum.yaml` swept, and its CAP plane drawn.

    python -m workbench.studies.cap_spectrum                  # serial on the simulator
    python -m workbench.studies.cap_spectrum --workers 2      # on Ray
    python -m workbench.studies.cap_spectrum --png docs/cap_spectrum.png

Every point is one configuration under the same majority-minority partition: Raft and
Multi-Paxos (consensus: consistent, unavailable on the minority), the eventual store
(always available, stale), and the Dynamo-style quorum store between them — strict
quorums (R + W > N) keep linearizable reads when placement lets them answer, partial
ones (R = W = 1) answer everywhere and read stale data, sloppy quorums trade the
intersection for availability. The sweep's `cases` list holds the points, so no
configuration runs twice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from workbench.experiment.config import read_yaml

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "cap_spectrum.yaml"
DEFAULT_PNG = Path(__file__).resolve().parents[2] / "docs" / "cap_spectrum.png"


def point_labels(summary: pd.DataFrame) -> pd.DataFrame:
    """Adds `family` (raft, paxos, eventual, quorum strict / sloppy) and `point`
    (e.g. `N3 R2 W2`) columns to a cap_spectrum summary frame."""
    def family(row: pd.Series) -> str:
        if row["protocol"] != "quorum":
            return str(row["protocol"])
        return "quorum sloppy" if bool(row.get("quorum.sloppy")) else "quorum strict"

    def point(row: pd.Series) -> str:
        if row["protocol"] != "quorum":
            return str(row["protocol"])
        return f"R{int(row['quorum.r'])}W{int(row['quorum.w'])}"

    return summary.assign(family=summary.apply(family, axis=1), point=summary.apply(point, axis=1))


def add_client_measures(summary: pd.DataFrame, sweep_path: Path, start_ms: float, end_ms: float,
                        clients: int) -> pd.DataFrame:
    """Adds `availability_time_partitioned` and `clients_served_partitioned` (issue 14,
    item 2; `analysis/availability_time.py`) from each ok run's ops over the partition,
    for sweeps written before the run summary carried them (it does now)."""
    from workbench.analysis.availability_time import clients_served, time_weighted_availability

    if "availability_time_partitioned" in summary and summary["availability_time_partitioned"].notna().any():
        return summary
    summary = summary.drop(columns=["availability_time_partitioned", "clients_served_partitioned"],
                           errors="ignore")
    rows = []
    for run_id in summary.loc[summary["status"] == "ok", "run_id"]:
        ops = pd.read_parquet(sweep_path / "runs" / run_id / "ops.parquet",
                              columns=["process", "type", "invoke_time", "complete_time"])
        rows.append({"run_id": run_id,
                     "availability_time_partitioned":
                         time_weighted_availability(ops, start_ms, end_ms, clients)["availability_time"].iloc[0],
                     "clients_served_partitioned":
                         clients_served(ops, start_ms, end_ms, clients)["clients_served"].iloc[0]})
    return summary.merge(pd.DataFrame(rows, columns=["run_id", "availability_time_partitioned",
                                                     "clients_served_partitioned"]), on="run_id", how="left")


def draw(summary: pd.DataFrame, png: Path | None = None) -> object:
    """The CAP plane of the spectrum (matplotlib Axes); written to `png` if given.

    x is the time-weighted availability during the partition (`plots.cap_plane`'s
    default): per-op availability rewards stores that fail fast."""
    from workbench.analysis.plots import cap_plane, to_png

    frame = point_labels(summary)
    ax = cap_plane(frame, hue="family", label="point")
    ax.set_title("The CAP spectrum: one majority-minority partition, 5 nodes")
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        tmp = png.with_suffix(".tmp.png")
        tmp.write_bytes(to_png(ax))
        tmp.replace(png)  # atomic: never a half-written picture
    return ax


def run(experiment: Path = EXPERIMENT, out: Path | None = None, workers: int = 1,
        png: Path | None = DEFAULT_PNG) -> pd.DataFrame:
    from workbench.experiment.execute import run_sweep
    from workbench.experiment.plan import plan_sweep

    raw = read_yaml(experiment)
    plan = plan_sweep(raw, str(experiment))
    result = run_sweep(plan, out=out, workers=workers)
    base = plan.runs[0].config
    cut = base.faults.partitions[0]
    start_ms = cut.at * 1000.0
    end_ms = start_ms + (cut.duration or base.duration_s - cut.at) * 1000.0
    frame = add_client_measures(result.frame, result.path, start_ms, end_ms, base.clients)
    draw(frame, png)
    return point_labels(frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.studies.cap_spectrum", description=__doc__.split("\n")[0])
    parser.add_argument("experiment", nargs="?", type=Path, default=EXPERIMENT)
    parser.add_argument("--out", type=Path, help="sweep folder (default data/sweeps/cap_spectrum)")
    parser.add_argument("--workers", type=int, default=1, help="1 = serial, no Ray (default)")
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG)
    args = parser.parse_args(argv)
    from workbench.errors import UserInputError

    try:
        frame = run(args.experiment, args.out, args.workers, args.png)
    except UserInputError as exc:
        print(f"cap_spectrum: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    columns = ["family", "point", "availability_partitioned", "availability_time_partitioned",
               "clients_served_partitioned", "stale_read_fraction", "linearizable"]
    print(frame[[c for c in columns if c in frame]].to_string(index=False))
    print(f"CAP plane: {args.png}", file=sys.stderr)


if __name__ == "__main__":
    main()
