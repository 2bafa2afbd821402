"""One factory for every curriculum a run can name: what train_config.json records is rebuilt."""
from mentornet.curricula import base
from mentornet.curricula import data_parameters
from mentornet.curricula import mentormix
from mentornet.errors import UsageError
from mentornet.models import mentornet_net


def make_curriculum_factory(curriculum_name, settings, trained_mentornet_dir=None):
  """callable(num_examples=, num_classes=) -> the curriculum a run in train_config.json used.

  Args:
    curriculum_name: baseline | mentornet | data_parameters | mentormix.
    settings: the run's `curriculum_settings` dict (may be None).
    trained_mentornet_dir: overrides the MentorNet path recorded in `settings`.
  """
  settings = dict(settings or {})
  if curriculum_name == "data_parameters":
    parsed = data_parameters.DataParametersSettings.from_dict(settings)
    return lambda num_examples, num_classes: data_parameters.DataParametersCurriculum(
        num_classes, num_examples, parsed, name="curriculum")
  if curriculum_name == "mentornet":
    path = trained_mentornet_dir or settings.get("trained_mentornet_dir")
    if not path:
      raise UsageError("--trained_mentornet_dir is required for a MentorNet run")
    mentornet = mentornet_net.load_mentornet(path)
    kwargs = {key: settings[key] for key in ("loss_p_percentile", "burn_in_epoch",
                                               "fixed_epoch_after_burn_in",
                                               "loss_moving_average_decay") if key in settings}
    if "example_dropout_rates" in settings:
      kwargs["example_dropout_rates"] = base.parse_example_dropout_rates(
          settings["example_dropout_rates"])
    return lambda **unused: base.MentorNetCurriculum(mentornet, name="curriculum",
                                                               **kwargs)
  if curriculum_name == "mentormix":
    parsed = mentormix.MentorMixSettings.from_dict(settings)
    path = trained_mentornet_dir or parsed.trained_mentornet_dir
    mentornet = None
    if parsed.weighting == "mentornet":
      if not path:
        raise UsageError("--trained_mentornet_dir is required for a MentorMix run")
      mentornet = mentornet_net.load_mentornet(path)
    return lambda **unused: mentormix.MentorMixCurriculum(mentornet, parsed, name="curriculum")
  if curriculum_name == "baseline":
    return lambda **unused: base.NoCurriculum(name="curriculum")
  raise UsageError(f"unknown curriculum {curriculum_name!r} in train_config.json")
