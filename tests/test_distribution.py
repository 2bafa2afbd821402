"""Replica-count independence (example dropout included) and a two-process multi-worker run.

Logical CPU devices and multi-worker collectives must be configured before TensorFlow starts,
so each check runs in a fresh Python subprocess.
"""
import json
import socket
import subprocess
import sys
import textwrap

import numpy as np

from conftest import REPO_ROOT
from conftest import make_tiny_noisy_cifar
from conftest import subprocess_env
import replica_harness

REPLICA_SCRIPT = textwrap.dedent("""
    import sys
    import replica_harness as harness
    harness.split_cpu_in_two()
    import json
    from mentornet.curricula import base as curriculum
    from mentornet.models import mentornet_net
    import numpy as np

    class RecordingCurriculum(curriculum.MentorNetCurriculum):
      # Keeps the global-batch v of the last step, to compare replica counts.
      def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_v = self.add_weight(shape=(harness.BATCH,), initializer="zeros",
                                      trainable=False, name="last_v",
                                      aggregation="only_first_replica")

      def example_weights(self, losses, labels, features, step_info):
        v, logs = super().example_weights(losses, labels, features, step_info)
        self.last_v.assign(curriculum.global_batch(v))
        return v, logs

    out_path, mentornet_dir, scalar_logs = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    # Example dropout on: 30% of the global batch of 16 dropped, floor(16 x 0.7) = 11 kept
    # (per replica it would be 2 x floor(8 x 0.7) = 10).
    result = harness.one_and_two_replicas(
        lambda: RecordingCurriculum(mentornet_net.load_mentornet(mentornet_dir),
                                    loss_p_percentile=0.7,
                                    example_dropout_rates=np.full(100, 0.3, np.float32)),
        record_step=lambda cur, logs: {"v": cur.last_v.numpy().tolist(),
                                       **{k: float(logs[k]) for k in scalar_logs}},
        record_end=lambda model: {
            "weights": [w.numpy().ravel().tolist() for w in model.student.trainable_weights],
            "moving_average": float(model.curriculum.loss_moving_average.numpy())})
    with open(out_path, "w") as f:
      json.dump(result, f)
""")


# Step logs that combine the replicas (the step all-reduces their sums; v is not gathered).
SCALAR_LOGS = ("weighted_loss", "percentile_loss", "loss_moving_average", "total_loss",
               "orig_loss", "batch_sum_v", "data_util")


def test_one_and_two_replicas_agree(tmp_path):
  from mentornet.models import mentornet_net
  mentornet_dir = str(tmp_path / "mentornet")
  mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=11), mentornet_dir)
  result = replica_harness.run_script(REPLICA_SCRIPT, tmp_path / "out.json", mentornet_dir,
                                      ",".join(SCALAR_LOGS))
  one, two = result["one"], result["two"]
  assert len(one["history"]) == len(two["history"]) == 3
  for a, b in zip(one["history"], two["history"]):
    np.testing.assert_allclose(a["v"], b["v"], rtol=1e-5, atol=1e-6)
    for key in SCALAR_LOGS:
      np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)
  assert np.ptp(one["history"][-1]["v"]) > 1e-4  # the weights are not all equal
  for a, b in zip(one["weights"], two["weights"]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(one["moving_average"], two["moving_average"], rtol=1e-6)
  # Example dropout keeps floor(global_batch x 0.7) = 11 of 16, a different subset every step.
  kept = [tuple(np.nonzero(np.asarray(h["v"]) > 0)[0]) for h in two["history"]]
  assert [len(k) for k in kept] == [11, 11, 11] and len(set(kept)) == 3


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_two_worker_multi_worker_mirrored_run(tmp_path):
  from mentornet.models import mentornet_net
  data_dir = make_tiny_noisy_cifar(tmp_path, num_train=64, num_test=16)
  mentornet_dir = str(tmp_path / "mentornet")
  mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=1), mentornet_dir)
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  log_dir = tmp_path / "train"
  command = [sys.executable, str(REPO_ROOT / "code" / "cifar_train_mentornet.py"),
             f"--data_dir={data_dir / '0.4'}", f"--train_log_dir={log_dir}",
             f"--trained_mentornet_dir={mentornet_dir}", "--num_residual_units=1",
             "--resnet_widths=4,4,8,8", "--batch_size=8", "--max_number_of_steps=4",
             "--verbose=0", "--device_id="]
  procs = []
  for index in range(2):
    env = subprocess_env(TF_CONFIG=json.dumps({"cluster": cluster,
                                               "task": {"type": "worker", "index": index}}))
    procs.append(subprocess.Popen(command + [f"--task={index}"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  outputs = []
  try:
    for proc in procs:
      outputs.append(proc.communicate(timeout=300)[0])
  finally:
    for proc in procs:
      proc.kill()
  for proc, output in zip(procs, outputs):
    assert proc.returncode == 0, output[-3000:]
    assert "Finished at step 4" in output, output[-2000:]
  assert (log_dir / "ckpt-4.index").exists()
  # Only the chief wrote into train_log_dir.
  assert sorted(p.name for p in log_dir.glob("ckpt-*.index")) == ["ckpt-4.index"]
