"""Trains a MentorNet on a data set of data_generator.py (the original's flags).

The original entry point, with its flags: `mentornet-learn` from this checkout.
What it does and its flags: `mentornet.cli.train_mentornet` (docs/flags.md).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import train_mentornet

if __name__ == "__main__":
  train_mentornet.run_main()
