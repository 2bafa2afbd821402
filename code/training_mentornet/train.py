r"""Trains a MentorNet on a data set of data_generator.py (the original's flags).

  python code/training_mentornet/train.py --train_dir=runs/mentornet/mentornet_pd \
      --data_path=runs/data/mentornet_pd --max_step_train=3e4 --learning_rate=0.1

Adam (lr x0.9 every 1000 steps), gradient norm clipped at 5, mini-batches of 32; sigmoid
cross-entropy for 0/1 targets, squared error of sigmoid(v) otherwise. Prints the train and test
loss per epoch, checkpoints to --train_dir (a rerun resumes) and ends by writing the MentorNet
SavedModel and metrics.json to --export_dir (default --train_dir): pass that directory as
--trained_mentornet_dir to cifar_train_mentornet.py.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import train_mentornet

if __name__ == "__main__":
  train_mentornet.run_main()
