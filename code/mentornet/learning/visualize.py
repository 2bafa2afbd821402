"""Plots a learned MentorNet: the weight v over (loss, loss difference), one frame per epoch.

As the original visualizer: x = loss - moving average in [-loss_bound, loss_bound], y = loss in
[0, loss_bound], z = v in [0, 1], label 0, one figure per epoch saved as `epoch_<t>.png`,
and all of them, in the order given, as the animated `plot.gif` (0.5 s a frame, looping).
The original scattered 3000 random points; this draws the surface on a regular grid.
"""
import os

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mentornet.errors import UsageError
from mentornet.errors import parse_number_list

DEFAULT_EPOCH_RANGES = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99)
GIF_NAME = "plot.gif"
FRAME_SECONDS = 0.5
GRID_POINTS = 61  # Per axis.


def frame_name(epoch):
  return f"epoch_{epoch}.png"


def parse_epoch_ranges(items):
  """['0', '10', ...] or '0,10' -> list of ints in [0, 99]."""
  return parse_number_list(items, "epoch_ranges", int, 0, 99)


def weight_surface(mentornet, epoch, loss_bound, grid_points=GRID_POINTS):
  """(loss [g, g], loss_diff [g, g], v [g, g]) of a loaded MentorNet at one epoch, label 0."""
  loss, loss_diff = np.meshgrid(np.linspace(0.0, loss_bound, grid_points),
                                np.linspace(-loss_bound, loss_bound, grid_points), indexing="ij")
  features = np.stack([loss.ravel(), loss_diff.ravel(), np.zeros(loss.size),
                       np.full(loss.size, float(epoch))], axis=1).astype(np.float32)
  v = np.asarray(mentornet(features)).reshape(loss.shape)
  return loss, loss_diff, v


def plot_frame(loss, loss_diff, v, epoch, loss_bound, title=""):
  """A matplotlib Figure of one epoch's weight surface (fixed size, so frames stack)."""
  fig = plt.figure(figsize=(6.4, 4.8), dpi=80)
  ax = fig.add_subplot(111, projection="3d")
  ax.plot_surface(loss_diff, loss, v, cmap="viridis", vmin=0.0, vmax=1.0, linewidth=0,
                  antialiased=False, rcount=loss.shape[0], ccount=loss.shape[1])
  ax.set_xlabel("diff to loss mv")
  ax.set_ylabel("loss")
  ax.set_zlabel("weight")
  ax.set_xlim([-loss_bound, loss_bound])
  ax.set_ylim([0, loss_bound])
  ax.set_zlim([0, 1])
  fig.suptitle(f"{title}epoch={epoch}", fontsize=15)
  return fig


def _figure_pixels(fig):
  fig.canvas.draw()
  return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def visualize_mentornet(mentornet, output_dir, loss_bound=15.0,
                        epoch_ranges=DEFAULT_EPOCH_RANGES, title="", log=print):
  """Writes `epoch_<t>.png` for each epoch and `plot.gif`; returns (png paths, gif path)."""
  if not loss_bound > 0:
    raise UsageError(f"--loss_bound must be positive, got {loss_bound:g}")
  epochs = parse_epoch_ranges(list(map(str, epoch_ranges)))
  os.makedirs(output_dir, exist_ok=True)
  png_paths = []
  frames = []
  for epoch in epochs:
    loss, loss_diff, v = weight_surface(mentornet, epoch, loss_bound)
    fig = plot_frame(loss, loss_diff, v, epoch, loss_bound, title)
    path = os.path.join(output_dir, frame_name(epoch))
    fig.savefig(path)
    frames.append(_figure_pixels(fig))
    plt.close(fig)
    png_paths.append(path)
    log(f"{path}: v in [{v.min():.3f}, {v.max():.3f}]")
  gif_path = os.path.join(output_dir, GIF_NAME)
  iio.imwrite(gif_path, np.stack(frames), duration=int(FRAME_SECONDS * 1000), loop=0)
  return png_paths, gif_path
