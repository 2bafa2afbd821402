r"""Generates the training data for learning a MentorNet (the original's flags).

Predefined curriculum (a v* function of mentornet.learning.vstar.VSTAR_FUNCTIONS):
  python code/training_mentornet/data_generator.py --outdir=runs/data/mentornet_pd \
      --vstar_fn=vstar_mentornet_pd --vstar_gamma=1 --sample_size=100000
Data-driven, from a StudentNet dump (see dump_studentnet.py), one set per percentile:
  python code/training_mentornet/data_generator.py --vstar_fn=data_driven \
      --input_csv_filename=mentornet_models/studentnet_dump_csv/nl_0.2.csv --outdir=runs/data/dd
writes <outdir>/nl_0.2_percentile_{40,50,60,75,80,90}/.

Each data set directory holds tr.p and ts.p (pickles of float64 [n, 5] arrays with columns
loss, loss_diff, label, epoch, v_star, readable by the original reader) and dataset_info.json.
"""
from absl import app
from absl import flags

from mentornet import errors
from mentornet.learning import generator
from mentornet.learning import vstar

FLAGS = flags.FLAGS


def define_flags():
  """Defines this entry point's flags (the original's names and defaults)."""
  flags.DEFINE_string("outdir", "", "Directory to save the training data to.")
  flags.DEFINE_string("vstar_fn", "", "The v* function: data_driven or one of "
                      f"{', '.join(sorted(vstar.VSTAR_FUNCTIONS))}.")
  flags.DEFINE_string("vstar_gamma", "", "The hyper-parameter of the v* function (default: the "
                      "function's own, e.g. 2 for focal loss, 1 for spcl_linear/mentornet_pd).")
  flags.DEFINE_integer("sample_size", generator.DEFAULT_SAMPLE_SIZE,
                       "Size of the generated predefined data set (train + test).")
  flags.DEFINE_string("input_csv_filename", "", "StudentNet dump for --vstar_fn=data_driven: "
                      "lines 'id epoch noisy_label clean_label loss'.")
  flags.DEFINE_string("percentiles", ",".join(map(str, generator.DEFAULT_PERCENTILES)),
                      "data_driven: loss percentiles of the moving average, one data set each.")
  flags.DEFINE_integer("seed", 0, "Seed of the shuffle (and so of the sample and the split).")


@errors.exit_on_usage_error
def main(argv):
  del argv  # Checked by exit_on_usage_error.
  if not FLAGS.vstar_fn:
    raise errors.UsageError("--vstar_fn is required: data_driven or one of "
                            f"{', '.join(sorted(vstar.VSTAR_FUNCTIONS))}")
  if not FLAGS.outdir:
    raise errors.UsageError("--outdir is required (where to write the data set)")
  if FLAGS.vstar_fn == "data_driven":
    percentiles = generator.parse_percentiles(FLAGS.percentiles)
    for outdir, info in generator.generate_data_driven(FLAGS.input_csv_filename, FLAGS.outdir,
                                                       percentiles, FLAGS.seed):
      print(f"{outdir}: percentile {info['percentile']:g} (loss {info['percentile_loss']:.4f}) "
            f"train {info['num_train']} test {info['num_test']}", flush=True)
    return
  spec = vstar.get_vstar(FLAGS.vstar_fn)
  gamma = vstar.parse_gamma(FLAGS.vstar_gamma, spec)
  if FLAGS.vstar_gamma and not spec.uses_gamma:
    print(f"note: {FLAGS.vstar_fn} has no hyper-parameter; --vstar_gamma is ignored", flush=True)
  if FLAGS.input_csv_filename:
    print("note: --input_csv_filename is only read with --vstar_fn=data_driven", flush=True)
  outdir, info = generator.generate_predefined(FLAGS.vstar_fn, FLAGS.outdir, FLAGS.sample_size,
                                               gamma, FLAGS.seed)
  gamma_text = "" if info["vstar_gamma"] is None else f" gamma={info['vstar_gamma']:g}"
  print(f"{outdir}: {FLAGS.vstar_fn}{gamma_text} train {info['num_train']} test "
        f"{info['num_test']}", flush=True)


def run_main():
  define_flags()
  app.run(main)
