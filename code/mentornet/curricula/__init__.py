"""Curricula: how per-example losses become weights v."""
