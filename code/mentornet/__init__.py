"""MentorNet for TensorFlow 2 / Keras 3: a port of google/mentornet (Jiang et al., ICML 2018).

Subpackages, lowest layer first; a layer imports only the layers below it (checked by the
import-linter contracts in .importlinter):

- `errors`: `UsageError` and the one-line-error wrapper of every entry point.
- `config`: every default once (`defaults`), `TrainConfig` and train_config.json
  (`train_config`), the one method table (`method_settings`), the dataset registry.
- `data`: the TFRecord format, label noise (synthetic and human), data builders, npz splits and
  the tf.data pipelines.
- `models`: the StudentNets, fused batch norm, the MentorNet network and its SavedModel I/O.
- `curricula`: how per-example losses become weights v (`base`: none and MentorNet;
  `data_parameters`; `factory`: a curriculum from a run's record).
- `training`: `StudentTrainer` (the one train step), the fit loop, its callbacks, checkpoints,
  precision and tf.distribute.
- `analysis`: the evaluation job, the per-example trust report, learning curves.
- `learning`: learning new MentorNets (v* functions, data generation, training, StudentNet dump).
- `experiments`: runs of several trainings (the shared runner, quickstart, reproduce_small,
  regime study).
- `cli`: absl flags and the mains of every entry point (console scripts `mentornet-*`).
"""

__version__ = "0.1.0"
