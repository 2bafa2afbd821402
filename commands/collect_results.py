"""Collects the accuracies of the grid's runs into markdown tables: `mentornet-collect-results`
from this checkout (see `mentornet.experiments.collect`).

  python commands/collect_results.py --root=cifar_models --metric=both --original
"""
import os
import sys

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path[:0] = [os.path.join(_ROOT, "code"), _ROOT]

from mentornet.cli import collect_results  # noqa: E402

if __name__ == "__main__":
  collect_results.run_main()
