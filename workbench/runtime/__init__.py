"""Drivers that run protocol cores: `sim` (deterministic, virtual time) and `ray` (actors, real time)."""
