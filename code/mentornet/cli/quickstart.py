"""`mentornet-quickstart`: flags of `mentornet.experiments.quickstart` (defaults in its
`QuickstartConfig`)."""
import dataclasses

from absl import app
from absl import flags

from mentornet.config import defaults
from mentornet.errors import exit_on_usage_error
from mentornet.experiments import quickstart

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the quickstart flags on `flag_values`."""
  d, fv = quickstart.QuickstartConfig(), flag_values
  flags.DEFINE_string("output_dir", d.output_dir, "Where data, runs and results go.",
                      flag_values=fv)
  flags.DEFINE_float("noise_fraction", d.noise_fraction,
                     "Fraction of training labels resampled at random.", flag_values=fv)
  flags.DEFINE_integer("num_train_examples", d.num_train_examples,
                       "Training digits (a class-balanced subset of the embedded 4,000).",
                       flag_values=fv)
  flags.DEFINE_integer("epochs", d.epochs, "Training epochs of each run (the original's 100).",
                       flag_values=fv)
  flags.DEFINE_integer("batch_size", d.batch_size, "Images per step.", flag_values=fv)
  flags.DEFINE_integer("eval_every", d.eval_every, "Steps between points of the learning "
                       "curves.", flag_values=fv)
  flags.DEFINE_integer("seed", d.seed, "Seed of the subset, the label noise, initialization "
                       "and data order.", flag_values=fv)
  flags.DEFINE_bool("compare_baseline", d.compare_baseline, "Also train without a curriculum.",
                    flag_values=fv)
  flags.DEFINE_integer("verbose", d.verbose, "Keras progress output: 0 silent, 1 bar, 2 one "
                       "line/epoch.", flag_values=fv)
  flags.DEFINE_enum("mixed_precision", d.mixed_precision, defaults.MIXED_PRECISION_POLICIES,
                    defaults.MIXED_PRECISION_HELP, flag_values=fv)


def config_from_flags(flag_values=FLAGS):
  """The `QuickstartConfig` of the parsed flags."""
  return quickstart.QuickstartConfig(**{
      field.name: flag_values[field.name].value
      for field in dataclasses.fields(quickstart.QuickstartConfig)})


@exit_on_usage_error
def main(argv):
  del argv
  quickstart.run(config_from_flags())


def run_main():
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run_main()
