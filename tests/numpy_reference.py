"""NumPy restatement of the SPEC's MentorNet math, independent of the TF code under test."""
import numpy as np


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def mentornet_v(params, features):
  """v [batch] of the original MentorNet for features [batch, 4] = (loss, diff, label, epoch)."""
  features = np.asarray(features, np.float64)
  loss_and_diff = features[:, :2]
  label = np.clip(features[:, 2].astype(np.int64), 0, 1)
  epoch = np.clip(features[:, 3].astype(np.int64), 0, 99)

  def cell_state(kernel, bias):
    # TF1 BasicLSTMCell from a zero state: rows [x; h=0], gates (i, j, f, o); c = s(i) * tanh(j).
    gates = loss_and_diff @ kernel[:2] + bias
    return sigmoid(gates[:, 0:1]) * np.tanh(gates[:, 1:2])

  feat = np.concatenate([
      params["label_embedding"][label], params["epoch_embedding"][epoch],
      cell_state(params["fw_lstm_kernel"], params["fw_lstm_bias"]),
      cell_state(params["bw_lstm_kernel"], params["bw_lstm_bias"])], axis=1)
  hidden = np.tanh(feat @ params["fc1_kernel"] + params["fc1_bias"])
  return sigmoid(hidden @ (params["out_kernel"] + params["out_bias"]))[:, 0]


def nearest_percentile(values, q):
  """tf.contrib.distributions.percentile(values, 100 q, interpolation='nearest')."""
  ordered = np.sort(np.asarray(values))[::-1]
  return ordered[int(np.round((len(ordered) - 1) * (1.0 - q)))]  # np.round: half to even


def softmax_cross_entropy(logits, labels):
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return -log_probs[np.arange(len(labels)), labels], np.exp(log_probs)


def trust_report_check(csv_path, resolution=1e-3):
  """(noise rate, noise-detection AUC) recomputed from a trust_report.csv by counting pairs:
  the share of (corrupted, clean) pairs where the corrupted example is trusted less (ties 1/2).
  Trust is compared on a grid of `resolution`; equal trust is decided by the loss (larger =
  trusted less)."""
  import csv
  with open(csv_path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  trust = np.round(np.array([float(r["trust"]) for r in rows]) / resolution)
  loss = np.array([float(r["loss"]) for r in rows])
  corrupted = np.array([r["given_label"] != r["clean_label"] for r in rows])
  low, high = trust[corrupted][:, None], trust[~corrupted][None, :]
  loss_c, loss_k = loss[corrupted][:, None], loss[~corrupted][None, :]
  less = (low < high) | ((low == high) & (loss_c > loss_k))
  tie = (low == high) & (loss_c == loss_k)
  auc = (np.sum(less) + 0.5 * np.sum(tie)) / (low.size * high.size)
  return float(corrupted.mean()), float(auc)
