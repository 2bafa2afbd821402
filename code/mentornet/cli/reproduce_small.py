"""`mentornet-reproduce-small` (commands/reproduce_small.py): flags of
`mentornet.experiments.reproduce_small`, whose `SmallConfig` holds every default.

  mentornet-reproduce-small --data=../shared/data/cifar10_subset.npz --noise_fraction=0.4 \
    --output_dir=runs/small
"""
import dataclasses

from absl import app
from absl import flags

from mentornet.config import defaults
from mentornet.config import method_settings
from mentornet.data import human_noise
from mentornet.data import noise
from mentornet.errors import exit_on_usage_error
from mentornet.experiments import reproduce_small

FLAGS = flags.FLAGS
_DEFAULTS = reproduce_small.SmallConfig()


def define_flags(flag_values=FLAGS):
  """Defines the reproduce_small flags (defaults from `SmallConfig`) on `flag_values`."""
  d, fv = _DEFAULTS, flag_values
  flags.DEFINE_string("data", d.data, "npz with x_train, y_train and x_test, y_test (or x_val, "
                      "y_val).", flag_values=fv)
  flags.DEFINE_float("noise_fraction", d.noise_fraction, "Label noise of the training set "
                     "(not with --noise_type=human, whose rate is measured).", flag_values=fv)
  flags.DEFINE_enum("noise_type", d.noise_type,
                    list(noise.NOISE_TYPES) + [human_noise.NOISE_TYPE],
                    "Label noise: symmetric (the original's), asymmetric (class flips), or human "
                    "(--human_labels_file).", flag_values=fv)
  flags.DEFINE_string("human_labels_file", d.human_labels_file,
                      "CIFAR-10N / CIFAR-100N labels (.pt or .npy) for --noise_type=human.",
                      flag_values=fv)
  flags.DEFINE_string("human_label_key", d.human_label_key, "Its label key; default "
                      "worse_label (CIFAR-10), noisy_label (CIFAR-100).", flag_values=fv)
  flags.DEFINE_integer("examples_per_class", d.examples_per_class, "Keep this many training "
                       "images per class (a seeded subsample, before the noise and the "
                       "validation split); 0: all.", flag_values=fv)
  flags.DEFINE_string("output_dir", d.output_dir, "Where data, runs and results go.",
                      flag_values=fv)
  flags.DEFINE_list("methods", list(d.methods), "Methods to run, in order.", flag_values=fv)
  flags.DEFINE_integer("max_number_of_steps", d.max_number_of_steps, "Training steps of every "
                       "method.", flag_values=fv)
  flags.DEFINE_integer("batch_size", d.batch_size, "Images per step.", flag_values=fv)
  flags.DEFINE_integer("eval_every", d.eval_every, "Evaluate validation and test accuracy every "
                       "N steps.", flag_values=fv)
  flags.DEFINE_integer("num_residual_units", d.num_residual_units,
                       "StudentNet ResNet units per stage.", flag_values=fv)
  flags.DEFINE_string("resnet_widths", ",".join(map(str, d.resnet_widths)),
                      "StudentNet ResNet widths.", flag_values=fv)
  flags.DEFINE_enum("augmentation", d.augmentation, defaults.AUGMENTATIONS,
                    "Training-image augmentation: crop_flip (the original's), flip (the reduced "
                    "regime's: without crops it memorizes within 100 epochs), none.",
                    flag_values=fv)
  flags.DEFINE_float("val_fraction", d.val_fraction, "Part of the noisy training set held out "
                     "for validation.", flag_values=fv)
  flags.DEFINE_integer("seed", d.seed, "Seed of the noise, the split, initialization and data "
                       "order.", flag_values=fv)
  flags.DEFINE_float("loss_p_percentile", d.loss_p_percentile, "Loss percentile of every "
                     "MentorNet method; default: --loss_p's.", flag_values=fv)
  flags.DEFINE_float("mixup_alpha", d.mixup_alpha, "Beta(alpha, alpha) of the mentormix "
                     "method; default: the authors' CIFAR value at the nearest noise fraction.",
                     flag_values=fv)
  flags.DEFINE_string("mentornet_dd_dir", d.mentornet_dd_dir, "MentorNet of the mentornet_dd "
                      "method: a directory or a path under mentornet_models/models (default: "
                      "learned from this regime's own StudentNet by "
                      "commands/train_mentornet_dd_small.sh).", flag_values=fv)
  flags.DEFINE_integer("verbose", d.verbose, "Keras progress output.", flag_values=fv)
  flags.DEFINE_enum("mixed_precision", d.mixed_precision, defaults.MIXED_PRECISION_POLICIES,
                    "Every method's StudentNet. " + defaults.MIXED_PRECISION_HELP,
                    flag_values=fv)
  flags.DEFINE_enum("loss_p", d.loss_p, method_settings.LOSS_P_MODES,
                    "MentorNet loss percentile: clean_share = 1 - noise rate (at least 0.1); "
                    "effective = 0.7 as the original ran; written = the values its commands "
                    "wrote (see mentornet.config.method_settings).", flag_values=fv)


def config_from_flags(flag_values=FLAGS):
  """The `SmallConfig` of the parsed flags."""
  fields = {f.name for f in dataclasses.fields(reproduce_small.SmallConfig)}
  values = {name: flag_values[name].value for name in fields if name in flag_values}
  values["methods"] = tuple(values["methods"])
  values["resnet_widths"] = tuple(
      int(w) for w in str(values["resnet_widths"]).split(",") if w.strip())
  values["noise_fraction_given"] = flag_values["noise_fraction"].present
  return reproduce_small.SmallConfig(**values)


@exit_on_usage_error
def main(argv):
  del argv
  reproduce_small.run(config_from_flags())


def run_main():
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run_main()
