"""Building blocks shared by protocol cores (stdlib only, like every core)."""
