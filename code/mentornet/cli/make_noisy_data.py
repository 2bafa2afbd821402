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

from absl import app
from absl import flags

from mentornet import errors
from mentornet.data import human_noise
from mentornet.data import noisy_data_builder

FLAGS = flags.FLAGS


def define_flags():
  """Defines this entry point's flags (the original's names and defaults)."""
  flags.DEFINE_string("dataset_name", "cifar10", "cifar10, cifar100 or mnist.")
  flags.DEFINE_string("source", None,
                      "tfds, embedded, a .npz file, or a CIFAR python folder/.tar.gz archive. "
                      "Default: embedded for mnist, tfds otherwise.")
  flags.DEFINE_string("noise_type", "symmetric", "symmetric, asymmetric or human.")
  flags.DEFINE_string("noise_fractions", "0.2,0.4,0.8",
                      "Comma-separated nominal noise fractions in [0, 1]; one directory each "
                      "(synthetic noise only).")
  flags.DEFINE_string("human_labels_file", None,
                      "--noise_type=human: CIFAR-10_human.pt / CIFAR-100_human.pt or their .npy.")
  flags.DEFINE_string("human_label_key", None,
                      "--noise_type=human: the file's label key. Default: worse_label (CIFAR-10), "
                      "noisy_label (CIFAR-100).")
  flags.DEFINE_integer("seed", 0, "Random seed (each fraction derives its own from it).")
  flags.DEFINE_string("output_dir", "data", "Root folder; writes <output_dir>/<dataset_name>/...")
  flags.DEFINE_integer("num_shards", 10, "Record files per split.")
  flags.DEFINE_bool("overwrite", False, "Replace the records of existing non-empty directories.")


@errors.exit_on_usage_error
def main(argv):
  del argv  # Checked by exit_on_usage_error.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if FLAGS.noise_type == human_noise.NOISE_TYPE and FLAGS["noise_fractions"].present:
    raise errors.UsageError("--noise_fractions does not apply to --noise_type=human (the "
                            "file's labels are the noise)")
  noisy_data_builder.build_noisy_datasets(
      dataset_name=FLAGS.dataset_name, source=FLAGS.source, noise_type=FLAGS.noise_type,
      noise_fractions=FLAGS.noise_fractions, seed=FLAGS.seed, output_dir=FLAGS.output_dir,
      num_shards=FLAGS.num_shards, overwrite=FLAGS.overwrite,
      log=lambda line: print(line, flush=True), human_labels_file=FLAGS.human_labels_file,
      human_label_key=FLAGS.human_label_key)


def run_main():
  define_flags()
  app.run(main)
