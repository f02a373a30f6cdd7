"""`make demo`: the headline experiment on Ray actors, for all three protocols, with a report.

cap_partition (5 nodes, a majority-minority partition from 10 s to 30 s of a 40 s
run) runs once per protocol — Raft, Multi-Paxos, the eventual store — each node a
Ray actor, one run after another so each gets the machine's cores. The result is a
sweep folder (summary.parquet, per-run ops, report.html), so `workbench report`,
`workbench.load` and the notebooks read it like any other sweep. Every run also gets
its own report (runs/<id>/report.html: timeline, phases, replication lag), linked from
the summary page.

    make demo                         # ~2.5 min: 3 runs x 40 s of real time
    .venv/bin/python -m workbench.demo --runtime sim   # the same in the simulator, seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import workbench

EXPERIMENT = Path("experiments/cap_partition.yaml")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", choices=["ray", "sim"], default="ray")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    # Only the public surface (`workbench.<name>`), like a notebook.
    duration_s = workbench.load_config(EXPERIMENT).duration_s
    out = args.out or Path("data") / "demo" / f"cap_partition-{args.runtime}"
    print(f"cap_partition on {args.runtime}: 3 protocols x {duration_s} s, "
          f"partition {{0,1,2}} | {{3,4}} from 10 s to 30 s")
    frame = workbench.sweep(EXPERIMENT, out=out, workers=1, history=True, runtime=args.runtime,
                            sweep={"grid": {"protocol": ["raft", "paxos", "eventual"]}, "seeds": 1})
    for row in frame.to_dict("records"):
        print(f"== {row['protocol']}  ({row['status']})")
        if row["status"] == "ok":
            print(workbench.summary_text(row))
        else:
            print(f"  error: {row.get('error')}")
    for run_folder in sorted((out / "runs").glob("*")):
        if (run_folder / "summary.json").is_file():
            workbench.write_report(run_folder)  # before the summary page, which links them
    print(f"report: {workbench.write_report(out)}")
    if (frame["status"] != "ok").any():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
