"""Studies: experiments that need more than one run, e.g. `fig16` (Raft paper, Figure 16)."""
