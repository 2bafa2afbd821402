"""Writes the per-example trust report of a trained checkpoint (`mentornet.analysis.trust_report`).

Training already writes `<train_log_dir>/trust_report.csv` when it ends; this re-runs it on
demand, e.g. for an older checkpoint. What the command line leaves out (data, model and
curriculum settings) comes from `<train_log_dir>/train_config.json`. Example:
  python code/trust_report.py --train_log_dir=cifar_models/cifar10/resnet/0.4/mentornet_dd/train \
    --output_csv=/tmp/trust.csv
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mentornet.cli import trust_report

if __name__ == "__main__":
  trust_report.run_main()
