"""Checkers: what a history says about consistency.

- `linearizability`: Wing & Gong search with Lowe's memoisation, per key
  (`check_linearizability`), over the models in `models` (register, cas-register, kv,
  set); `problem` compiles one key's ops for it; `pairing` joins invokes to completions.
- `staleness` (stale reads, versions and ms behind), `sessions` (read-your-writes,
  monotonic reads, by version order and by real time), `sets` (Jepsen's set-full;
  `sets_legacy` the old rule, a mutant), `convergence` (time to agree after the last
  heal), `visibility` (replication lag, causal for last-writer-wins), `pbs`
  (PBS t-visibility per read and per write-read pair, k-staleness, settled staleness), all DataFrame in, DataFrame out; `versions` holds the
  version order; `lww` counts last-writer-wins version anomalies from a trace.
- `summary`: one run's figures for summary.json; `check_command`: `workbench check`.

Nothing is imported here: each caller imports the module it needs, so importing one
checker does not load the others.
"""
