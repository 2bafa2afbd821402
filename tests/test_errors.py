"""The one-line error wrapper shared by every script."""
import pytest

from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error


def test_usage_error_is_one_line_and_exit_2(capsys):
  @exit_on_usage_error
  def main(argv):
    del argv
    raise UsageError("--flag is\n  wrong")

  with pytest.raises(SystemExit) as info:
    main(["prog"])
  assert info.value.code == 2
  assert capsys.readouterr().err == "error: --flag is wrong\n"


def test_stray_positional_argument_is_refused(capsys):
  calls = []
  main = exit_on_usage_error(calls.append)
  with pytest.raises(SystemExit) as info:
    main(["prog", "data_dir=/tmp"])
  assert info.value.code == 2 and calls == []
  assert "unexpected arguments: data_dir=/tmp" in capsys.readouterr().err
  main(["prog"])
  assert calls == [["prog"]]
