"""Synthetic data: assets, 6D trajectories, rendering, blatting, sharded storage, Dataset, benchmark loaders."""
