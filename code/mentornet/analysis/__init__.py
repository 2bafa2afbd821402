"""Analysis: evaluation, trust report and learning curves."""
