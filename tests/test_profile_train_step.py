"""benchmarks/profile_train_step.py: traces a tiny train step and tables its op types."""
import glob
import json
import subprocess
import sys

from conftest import REPO_ROOT
from conftest import subprocess_env

SCRIPT = REPO_ROOT / "benchmarks" / "profile_train_step.py"


def test_profile_tiny_step(tmp_path):
  """The script traces 2 steps of a tiny ResNet on the MNIST sample and writes its table."""
  out = tmp_path / "profile.json"
  result = subprocess.run(
      [sys.executable, str(SCRIPT), "--data=embedded", "--resnet_widths=8,8,16,16",
       "--num_residual_units=1", "--batch_size=8", "--warmup_steps=1", "--steps=2",
       f"--logdir={tmp_path / 'trace'}", f"--json={out}"],
      env=subprocess_env(), capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert glob.glob(str(tmp_path / "trace" / "plugins" / "profile" / "*" / "*.xplane.pb"))
  figures = json.loads(out.read_text())
  assert figures["ms_per_step"] > 0 and figures["op_ms_per_step"] > 0
  types = {row["type"] for row in figures["ops"]}
  assert any("Conv2DBackpropFilter" in t for t in types), types
  assert any(t.endswith("Conv2D") for t in types), types
  shares = [row["share"] for row in figures["ops"]]
  assert all(0.0 <= share <= 1.0 for share in shares)
  assert sum(shares) <= 1.0 + 1e-6
  assert all(row["count_per_step"] > 0 for row in figures["ops"])
  assert "Conv2D" in {row["group"] for row in figures["layers"]}
  assert figures["input"]["wait_ms_per_step"] >= 0
  assert figures["train_function_ms_per_step"] > 0
  assert "op type" in result.stdout


# Importing the script defines absl flags, so it runs in a child process (as other drivers).
NESTING_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import profile_train_step
from tensorflow.tsl.profiler.protobuf import xplane_pb2
plane = xplane_pb2.XPlane(name="/host:CPU")
for i, name in enumerate(["ExecutorState::Process", "outer:PartitionedCall", "conv:Conv2D",
                          "map/Pad:Pad"], start=1):
  plane.event_metadata[i].id = i
  plane.event_metadata[i].name = name
step = plane.lines.add(name="tf_Compute/1")
for metadata_id, offset, duration in [(1, 0, 100), (2, 10, 80), (3, 20, 30)]:
  step.events.add(metadata_id=metadata_id, offset_ps=offset, duration_ps=duration)
data = plane.lines.add(name="tf_data_private_threadpool/2")
data.events.add(metadata_id=4, offset_ps=0, duration_ps=40)
ops = profile_train_step.line_ops(plane, step)
assert ops == [("PartitionedCall", "outer:PartitionedCall", 50, False),
               ("Conv2D", "conv:Conv2D", 30, False)], ops
figures = profile_train_step.analyze(xplane_pb2.XSpace(planes=[plane]), steps=1)
assert [(r["type"], r["share"]) for r in figures["ops"]] == [
    ("PartitionedCall", 50 / 80), ("Conv2D", 30 / 80)], figures["ops"]
assert [r["type"] for r in figures["input"]["ops"]] == ["Pad"], figures["input"]
print("ok")
"""


def test_nested_op_events_are_counted_once():
  """An op's nested op events are taken off its self time; tf.data ops are kept apart."""
  result = subprocess.run([sys.executable, "-c", NESTING_DRIVER, str(SCRIPT.parent)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split()[-1] == "ok"
