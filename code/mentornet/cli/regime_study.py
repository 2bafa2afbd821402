"""`mentornet-regime-study` (commands/regime_study.py): flags of
`mentornet.experiments.regime_study`.

  mentornet-regime-study --data=../shared/data/cifar10_subset.npz \
    --output_dir=runs/regime_study [--regimes=a,b] [--seeds=0,1,2]
"""
from absl import app
from absl import flags

from mentornet.config import defaults
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error
from mentornet.experiments import regime_study

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the regime-study flags on `flag_values`."""
  fv = flag_values
  flags.DEFINE_string("data", None, "npz of reproduce_small (x_train, y_train, x_val, y_val).",
                      flag_values=fv)
  flags.DEFINE_string("output_dir", "runs/regime_study", "Where the runs and the table go.",
                      flag_values=fv)
  flags.DEFINE_list("regimes", list(regime_study.REGIMES), "Regimes to run, in order.",
                    flag_values=fv)
  flags.DEFINE_list("seeds", ["0"], "Seeds of every regime.", flag_values=fv)
  flags.DEFINE_list("methods", None, "Methods of every regime (default: the regime's).",
                    flag_values=fv)
  flags.DEFINE_enum("mixed_precision", None, defaults.MIXED_PRECISION_POLICIES,
                    "Every run's StudentNet (default: reproduce_small's). "
                    + defaults.MIXED_PRECISION_HELP, flag_values=fv)


@exit_on_usage_error
def main(argv):
  del argv
  try:
    seeds = [int(s) for s in FLAGS.seeds]
  except ValueError:
    raise UsageError(f"--seeds={','.join(FLAGS.seeds)} are not all integers") from None
  regime_study.run(FLAGS.data, FLAGS.output_dir, FLAGS.regimes, seeds, FLAGS.methods,
                   FLAGS.mixed_precision)


def run_main():
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run_main()
