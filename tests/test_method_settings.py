"""The one table of per-method settings (mentornet.config.method_settings) and its readers."""
import numpy as np
import pytest

from mentornet.config import method_settings

# The values written as --loss_p_precentile in google/mentornet's commands/ scripts.
WRITTEN = {("mentornet_pd", 0.2): 0.75, ("mentornet_pd", 0.4): 0.75, ("mentornet_pd", 0.8): 0.5,
           ("mentornet_dd", 0.2): 0.8, ("mentornet_dd", 0.4): 0.6, ("mentornet_dd", 0.8): 0.5,
           ("self_paced", 0.2): 0.7, ("focal_loss", 0.8): 0.7}


def test_original_methods_and_directories():
  assert method_settings.ORIGINAL_METHODS == (
      "baseline", "self_paced", "focal_loss", "mentornet_pd", "mentornet_dd")
  assert method_settings.curriculum_settings("baseline", 0.4) == {"curriculum": "baseline"}


@pytest.mark.parametrize("method,noise", sorted(WRITTEN))
def test_loss_p_effective_is_the_original_default_and_written_is_the_commands(method, noise):
  assert method_settings.loss_p_percentile(method, noise) == 0.7
  assert method_settings.loss_p_percentile(method, noise, "written") == WRITTEN[method, noise]


def test_written_loss_p_picks_the_nearest_noise_and_shipped_extras_use_the_default():
  assert method_settings.loss_p_percentile("mentornet_dd", 0.45, "written") == 0.6
  assert method_settings.loss_p_percentile("mentornet_dd", 0.7, "written") == 0.5
  assert method_settings.loss_p_percentile("spcl_linear", 0.4, "written") == 0.7
  with pytest.raises(ValueError, match="loss_p must be one of effective, written"):
    method_settings.loss_p_percentile("mentornet_pd", 0.4, "typed")
  with pytest.raises(ValueError, match="unknown method 'nope'"):
    method_settings.curriculum_settings("nope", 0.4)


def test_mentornet_dd_settings_per_studentnet():
  resnet = method_settings.curriculum_settings("mentornet_dd", 0.4, loss_p="written")
  assert resnet == {"curriculum": "mentornet", "mentornet": "nl_0.2_percentile_90/mentornet_dd",
                    "loss_p_percentile": 0.6, "burn_in_epoch": 18,
                    "fixed_epoch_after_burn_in": True, "loss_moving_average_decay": 0.5,
                    "example_dropout_rates": "0.5,17,0.05,78,0.9,5"}
  inception = method_settings.curriculum_settings("mentornet_dd", 0.4, "inception")
  assert inception["example_dropout_rates"] == "0.5,17,0.05,83"
  assert inception["loss_p_percentile"] == 0.7


def test_nearest_noise_fraction_is_the_one_nearest_rule():
  assert method_settings.nearest_noise_fraction(0.4021) == 0.4
  assert method_settings.nearest_noise_fraction(0.0903) == 0.2
  assert method_settings.nearest_noise_fraction(0.7) == 0.8
  assert method_settings.nearest_noise_fraction(0.5, (0.25, 0.75)) == 0.25  # the first on a tie
  assert method_settings.written_loss_p_percentile("mentornet_dd", 0.0903) == 0.8


def test_quickstart_reads_mentornet_pd_from_the_table():
  from mentornet.experiments import quickstart
  mentornet_dir, settings = quickstart.mentornet_pd_settings(0.4)
  assert mentornet_dir.endswith("mentornet_pd1_g_1/mentornet_pd")
  assert settings["loss_p_percentile"] == 0.7
  np.testing.assert_array_equal(settings["example_dropout_rates"],
                                np.float32([0.5] * 17 + [0.05] * 83))
  assert (settings["burn_in_epoch"], settings["fixed_epoch_after_burn_in"]) == (0, False)
