"""Builds the noisy-label TFRecord sets of MentorNet (the tool the original never shipped).

The original entry point, with its flags: `mentornet-make-noisy-data` from this checkout.
What it does and its flags: `mentornet.cli.make_noisy_data` (docs/flags.md).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../code"))

from mentornet.cli import make_noisy_data

if __name__ == "__main__":
  make_noisy_data.run_main()
