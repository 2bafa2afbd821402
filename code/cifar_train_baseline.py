"""Trains a StudentNet on (noisy) CIFAR without a curriculum: the original's baseline.

Example:
  python code/cifar_train_baseline.py --dataset_name=cifar10 --data_dir=data/cifar10/0.4 \
    --train_log_dir=cifar_models/cifar10/resnet/0.4/baseline/train --studentnet=resnet101 \
    --max_number_of_steps=39000
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mentornet.cli import train

if __name__ == "__main__":
  train.run_baseline()
