"""Learning curves that show memorization: clean accuracy and given-label fit over steps.

A StudentNet trained on noisy labels first fits the correctly labelled examples and, trained
long enough, then fits the corrupted ones too (it *memorizes* their wrong labels), and its clean
test accuracy falls. `LearningCurves` records, every N steps of a run:
- `<name>_accuracy` for each evaluation split (e.g. `test`, the clean test labels);
- `fit_clean`: share of the correctly labelled training examples predicted as their label;
- `memorized`: share of the *corrupted* training examples predicted as their given, wrong,
  label (the memorized fraction).
The training split is passed once, in inference mode and without augmentation; its records
must carry clean labels (`data_tools/` and `reproduce_small` write them).
"""
import keras
import numpy as np

from mentornet.analysis import evaluation


def given_label_fit(columns):
  """(fit_clean, memorized) from `evaluation.per_example_pass` columns of a training split.

  Args:
    columns: dict of numpy [n] arrays with `label` (the given label), `clean_label` (-1 when
      unknown) and `correct` (prediction == given label).
  Returns:
    (share of correctly labelled examples predicted as their label, share of corrupted examples
    predicted as their wrong label); None for a group with no example.
  """
  known = columns["clean_label"] >= 0
  corrupted = known & (columns["label"] != columns["clean_label"])
  clean = known & ~corrupted
  correct = columns["correct"].astype(bool)
  fit_clean = float(correct[clean].mean()) if clean.any() else None
  memorized = float(correct[corrupted].mean()) if corrupted.any() else None
  return fit_clean, memorized


class LearningCurves(keras.callbacks.Callback):
  """Evaluates a `StudentTrainer` every `every` steps, at the start and at the end.

  Args:
    every: evaluation interval in global steps.
    eval_datasets: {name: dataset} of (features, label) batches, one pass each; a row gets
      `<name>_accuracy` against the records' labels.
    train_dataset: the training split, one ordered pass without augmentation, or None.
    verbose: print each row.
  `history` holds one dict per evaluation: `step`, the accuracies, `fit_clean`, `memorized`.
  """

  def __init__(self, every, eval_datasets, train_dataset=None, verbose=True):
    super().__init__()
    self.every = int(every)
    self.eval_datasets = dict(eval_datasets)
    self.train_dataset = train_dataset
    self.verbose = verbose
    self.history = []
    self._example_losses = None

  def _step(self):
    return int(self.model.optimizer.iterations.numpy())

  def evaluate(self):
    """Appends (and returns) the row of the current step; once per step."""
    step = self._step()
    if self.history and self.history[-1]["step"] == step:
      return self.history[-1]
    student = self.model.student
    if self._example_losses is None:
      self._example_losses = evaluation.make_example_losses(student)
    row = {"step": step}
    for name, dataset in self.eval_datasets.items():
      row[f"{name}_accuracy"], _ = evaluation.evaluate_student(student, dataset,
                                                               self._example_losses)
    if self.train_dataset is not None:
      columns = evaluation.per_example_pass(student, self.train_dataset, self._example_losses)
      row["fit_clean"], row["memorized"] = given_label_fit(columns)
    self.history.append(row)
    if self.verbose:
      print("  " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in row.items()), flush=True)
    return row

  def on_train_begin(self, logs=None):
    self.evaluate()

  def on_train_batch_end(self, batch, logs=None):
    if self._step() % self.every == 0:
      self.evaluate()

  def on_train_end(self, logs=None):
    self.evaluate()


def plot_curves(histories, path, title, accuracy_key="test_accuracy", dashed=("oracle",)):
  """Two panels over steps for every method: clean test accuracy; memorized fraction.

  Args:
    histories: {method: list of `LearningCurves` rows}.
    path: PNG to write.
    dashed: methods drawn with a dashed line (references such as the clean-label oracle).
  """
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, (ax_acc, ax_mem) = plt.subplots(1, 2, figsize=(12, 4.5))
  for method, rows in histories.items():
    style = "--" if method in dashed else "-"
    steps = [row["step"] for row in rows]
    line, = ax_acc.plot(steps, [row.get(accuracy_key, np.nan) for row in rows], style,
                        label=method)
    memorized = [row.get("memorized") for row in rows]
    if any(value is not None for value in memorized):
      ax_mem.plot(steps, [np.nan if v is None else v for v in memorized], style,
                  color=line.get_color(), label=method)
  ax_acc.set_ylabel("clean test accuracy")
  ax_mem.set_ylabel("memorized fraction\n(corrupted training labels predicted as given)")
  for ax in (ax_acc, ax_mem):
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)
  ax_acc.legend(fontsize="small")
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
