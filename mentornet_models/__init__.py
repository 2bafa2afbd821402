"""The trained MentorNets shipped with the project, as TF SavedModels under `models/`.

`path("mentornet_pd")` (a method of the one method table, `mentornet.config.method_settings`)
or `path("mentornet_pd1_g_1/mentornet_pd")` (a directory under `models/`) gives the directory to
pass as `--trained_mentornet_dir`; the same relative paths work from a source checkout.
"""
import pathlib

MODELS_DIR = pathlib.Path(__file__).resolve().parent / "models"


def path(name):
  """Directory of a shipped MentorNet: by the name of a method of the method table that trains
  with a MentorNet, or by its path relative to `models/`."""
  try:
    from mentornet.config import method_settings  # the method table, when installed
  except ImportError:
    method_settings = None
  if method_settings is not None and name in method_settings.METHODS:
    name = method_settings.METHODS[name].mentornet or name
  return str(MODELS_DIR / name)
