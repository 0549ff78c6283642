"""Studies over many solves: sweeps, trade-off curves, variants of a scenario."""
