"""Generates the training data for learning a MentorNet (the original's flags).

The original entry point, with its flags: `mentornet-generate-data` from this checkout.
What it does and its flags: `mentornet.cli.generate_mentornet_data` (docs/flags.md).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import generate_mentornet_data

if __name__ == "__main__":
  generate_mentornet_data.run_main()
