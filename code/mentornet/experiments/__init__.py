"""Experiments: runs of several trainings (quickstart, reproduce_small, grids)."""
