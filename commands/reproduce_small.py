"""Reduced-scale reproduction of the README tables on a CPU: `mentornet-reproduce-small`.

  python commands/reproduce_small.py --data=../shared/data/cifar10_subset.npz \
    --noise_fraction=0.4 --output_dir=runs/small

See `mentornet.experiments.reproduce_small` (what it runs) and `mentornet.cli.reproduce_small`
(its flags). Runs this checkout's package.
"""
import os
import sys

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path[:0] = [os.path.join(_ROOT, "code"), _ROOT]

from mentornet.cli import reproduce_small  # noqa: E402

if __name__ == "__main__":
  reproduce_small.run_main()
