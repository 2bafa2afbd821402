"""`mentornet-label-issues --train_dir=DIR --output_dir=OUT`: the likely wrong labels of a
folder of images (one subfolder per class), found by training through them with MentorNet PD;
see `mentornet.keras_api.image_folder` for what it writes."""
import dataclasses

from absl import app
from absl import flags

from mentornet.config import defaults
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error
from mentornet.keras_api import curricula
from mentornet.keras_api import image_folder

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the command's flags on `flag_values`."""
  d, fv = image_folder.FolderConfig(), flag_values
  flags.DEFINE_string("train_dir", None, "Folder of training images, one subfolder per class "
                      "(any size; bmp, gif, jpeg or png).", flag_values=fv)
  flags.DEFINE_string("output_dir", None, "Where label_issues.csv, label_issues.png, "
                      "model.keras and summary.json go.", flag_values=fv)
  flags.DEFINE_string("validation_dir", None, "Optional folder of the same classes with "
                      "trusted labels: its accuracy is reported.", flag_values=fv)
  flags.DEFINE_integer("image_size", d.image_size, "Images are resized to this square size.",
                       flag_values=fv)
  flags.DEFINE_string("curriculum", d.curriculum, "A shipped MentorNet ("
                      f"{', '.join(curricula.MENTORNET_NAMES)}), mentormix, data_parameters, "
                      "none, or a MentorNet SavedModel directory.", flag_values=fv)
  flags.DEFINE_float("loss_p_percentile", d.loss_p_percentile, "MentorNet's (and MentorMix's) "
                     "loss percentile "
                     "p: 0.7 (the original's) for an unknown noise rate; 1 - rate if known.",
                     flag_values=fv)
  flags.DEFINE_string("model", None, "A .keras classifier of 0..255 RGB images [batch, size, "
                      "size, 3] -> logits [batch, classes] to train instead of the ResNet-8.",
                      flag_values=fv)
  flags.DEFINE_integer("epochs", d.epochs, "Training epochs; 0: 100, or fewer so that training "
                       f"takes at most {image_folder.AUTO_MAX_STEPS} steps.", flag_values=fv)
  flags.DEFINE_integer("batch_size", d.batch_size, "Images per step.", flag_values=fv)
  flags.DEFINE_float("learning_rate", d.learning_rate, "Initial learning rate (x0.1 at 50%, "
                     "64% and 77% of training).", flag_values=fv)
  flags.DEFINE_list("widths", [str(w) for w in d.widths], "ResNet-8 filters: stem and 3 "
                    "stages.", flag_values=fv)
  flags.DEFINE_integer("seed", d.seed, "Seed of initialization, data order and dropout.",
                       flag_values=fv)
  flags.DEFINE_integer("num_shown", d.num_shown, "Most suspect images in label_issues.png.",
                       flag_values=fv)
  flags.DEFINE_enum("mixed_precision", d.mixed_precision, defaults.MIXED_PRECISION_POLICIES,
                    defaults.MIXED_PRECISION_HELP, flag_values=fv)
  flags.DEFINE_bool("overwrite", d.overwrite, "Replace another run's results in --output_dir.",
                    flag_values=fv)
  flags.DEFINE_integer("verbose", d.verbose, "1: progress bar; 0: quiet.", flag_values=fv)


def config_from_flags(flag_values=FLAGS):
  """The `FolderConfig` of the parsed flags (UsageError for a bad --widths)."""
  values = {field.name: flag_values[field.name].value
            for field in dataclasses.fields(image_folder.FolderConfig)}
  try:
    values["widths"] = tuple(int(w) for w in values["widths"])
  except ValueError:
    raise UsageError(f"--widths={','.join(values['widths'])} is not a list of integers")
  for name in ("train_dir", "output_dir"):
    if not values[name]:
      raise UsageError(f"--{name} is required")
  return image_folder.FolderConfig(**values)


@exit_on_usage_error
def main(argv):
  del argv
  image_folder.run(config_from_flags())


def run_main():
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run_main()
