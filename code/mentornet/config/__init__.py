"""Configuration: the one method table, dataset registry, training defaults."""
