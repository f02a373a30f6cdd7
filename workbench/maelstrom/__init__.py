"""Maelstrom's JSON protocol, both directions.

- In: `protocol: external` runs any node program that speaks Maelstrom's protocol
  (`workbench.runtime.external`); `checks` gives its verdicts.
- Out: `python -m workbench.maelstrom raft|paxos|eventual` runs our sans-IO cores as a
  Maelstrom node binary on stdin/stdout (`host`), for Maelstrom's lin-kv workload.
"""
