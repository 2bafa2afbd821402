r"""Builds the noisy-label TFRecord sets of MentorNet (the tool the original never shipped).

  python data_tools/make_noisy_data.py --dataset_name=cifar10 --source=tfds \
      --noise_type=symmetric --noise_fractions=0.2,0.4,0.8 --seed=0 --output_dir=data

writes data/cifar10/{0.2,0.4,0.8}/cifar10_train-* (noisy label, clean label, example id) and
data/cifar10/val/cifar10_test-* (clean), each with a manifest.json.
--source: tfds | embedded (mnist only, offline) | a .npz (x_train, y_train, x_test, y_test or
x_val, y_val) | a CIFAR python folder or .tar.gz (cifar-10-python.tar.gz, cifar-100-python.tar.gz).

Real human noise (CIFAR-10N / CIFAR-100N, read without torch):

  python data_tools/make_noisy_data.py --dataset_name=cifar10 --source=cifar-10-python.tar.gz \
      --noise_type=human --human_labels_file=CIFAR-10_human.pt --human_label_key=worse_label

writes data/cifar10/human_worse_label/ (and val/). An npz source needs `train_index`.
The logic lives in mentornet.data.noisy_data_builder.build_noisy_datasets.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../code"))

from mentornet.cli import make_noisy_data

if __name__ == "__main__":
  make_noisy_data.run_main()
