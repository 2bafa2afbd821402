r"""Dumps a StudentNet's per-example losses: the input of a data-driven MentorNet.

  python code/training_mentornet/dump_studentnet.py \
      --checkpoint_dir=runs/studentnet/cifar10_0.2/train --data_dir=runs/data/cifar10/0.2 \
      --output_csv=mentornet_models/studentnet_dump_csv/nl_0.2.csv \
      --checkpoint_steps=216 --subset_fraction=0.1 --seed=0

writes one line `id epoch noisy_label clean_label loss` per example of a seeded random subset
of the training split and per checkpoint (default: the latest one); loss is the cross-entropy
with the noisy label, without augmentation; epoch = floor(step / max_number_of_steps * 100).
The StudentNet settings come from the run's train_config.json (flags may restate them).
Then: data_generator.py --vstar_fn=data_driven --input_csv_filename=<the CSV>.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import dump_studentnet

if __name__ == "__main__":
  dump_studentnet.run_main()
