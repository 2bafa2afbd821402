"""The trained MentorNets shipped with the project, as TF SavedModels under `models/`.

`path("mentornet_pd1_g_1/mentornet_pd")` gives the directory to pass as
`--trained_mentornet_dir`; the same relative paths work from a source checkout.
"""
import pathlib

MODELS_DIR = pathlib.Path(__file__).resolve().parent / "models"

# Curriculum name -> SavedModel directory relative to MODELS_DIR (the original commands' paths).
SHIPPED = {
    "baseline": "baseline/baseline_mentornet",
    "self_paced": "self_paced/self_paced_mentornet",
    "spcl_linear": "spcl_linear/spcl_linear_mentornet",
    "hard_example_mining": "hard_example_mining/hard_example_mining_mentornet",
    "focal_loss": "focal_loss/focal_loss_mentornet",
    "mentornet_pd": "mentornet_pd1_g_1/mentornet_pd",
    "mentornet_dd": "nl_0.2_percentile_90/mentornet_dd",
}


def path(name):
  """Directory of a shipped MentorNet, by curriculum name or by relative path."""
  return str(MODELS_DIR / SHIPPED.get(name, name))
