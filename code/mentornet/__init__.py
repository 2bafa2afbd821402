"""MentorNet for TensorFlow 2 / Keras 3: a port of google/mentornet (Jiang et al., ICML 2018).

On your own model and data (`mentornet.keras_api`, imported on first use so that
`import mentornet` stays light):

  import keras, mentornet
  learner = mentornet.CurriculumModel(model, curriculum=mentornet.MentorNet("mentornet_pd"))
  learner.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
  learner.fit(x, y, epochs=100, batch_size=128)
  issues = mentornet.find_label_issues(learner, x, y)

Subpackages, lowest layer first; a layer imports only the layers below it (checked by the
import-linter contracts in .importlinter):

- `errors`: `UsageError` and the one-line-error wrapper of every entry point.
- `config`: every default once (`defaults`), `TrainConfig` and train_config.json
  (`train_config`), the one method table (`method_settings`), the dataset registry.
- `data`: the TFRecord format, label noise (synthetic and human), data builders, npz splits and
  the tf.data pipelines.
- `models`: the StudentNets, fused batch norm, the MentorNet network and its SavedModel I/O.
- `curricula`: how per-example losses become weights v (`base`: none and MentorNet;
  `data_parameters`; `mentormix`; `factory`: a curriculum from a run's record).
- `training`: `StudentTrainer` (the one train step), the fit loop, its callbacks, checkpoints,
  precision and tf.distribute.
- `analysis`: the evaluation job, the per-example trust report, learning curves.
- `learning`: learning new MentorNets (v* functions, data generation, training, StudentNet dump).
- `keras_api`: `CurriculumModel` (any Keras model, arrays or tf.data), curricula by name,
  `find_label_issues`, the image-folder command's machinery.
- `experiments`: runs of several trainings (the shared runner, quickstart, reproduce_small,
  regime study, the grid, the collector).
- `cli`: absl flags and the mains of every entry point (console scripts `mentornet-*`).
"""

import importlib

__version__ = "0.1.0"

# The Keras API, imported (with TensorFlow) only when one of these names is first used.
_KERAS_API = ("CurriculumModel", "DataParameters", "MentorMix", "MentorNet", "NoCurriculum",
              "find_label_issues")


def __getattr__(name):
  # By module name at first use: the package root imports no layer (modules of every layer
  # read `mentornet.__version__`), so the layers contract holds.
  if name in _KERAS_API:
    return getattr(importlib.import_module("mentornet.keras_api"), name)
  raise AttributeError(f"module 'mentornet' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_KERAS_API))
