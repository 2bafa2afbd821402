"""Regime study: where does a small StudentNet memorize noisy labels on a CPU?
`mentornet-regime-study` from this checkout; see `mentornet.experiments.regime_study`.

  python commands/regime_study.py --data=../shared/data/cifar10_subset.npz \
    --output_dir=runs/regime_study [--regimes=a,b] [--seeds=0,1,2] [--mixed_precision=none]
"""
import os
import sys

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path[:0] = [os.path.join(_ROOT, "code"), _ROOT]

from mentornet.cli import regime_study  # noqa: E402

if __name__ == "__main__":
  regime_study.run_main()
