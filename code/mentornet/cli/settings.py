"""Settings of the commands/ entry points: each a flag --name=value (or --name value) or an
environment variable NAME=value, the flag winning; `-n`/`--dry_run` sets DRY_RUN=1 and
`-h`/`--help` asks for the help. Standard library only."""
import os
import pathlib
import sys

from mentornet.errors import USAGE_EXIT_CODE
from mentornet.errors import UsageError

_CODE_DIR = pathlib.Path(__file__).resolve().parents[2]


def repo_root():
  """The checkout whose code/ holds this package (where the commands run), else the cwd."""
  root = _CODE_DIR.parent
  return str(root) if (root / "code" / "cifar_eval.py").exists() else os.getcwd()


def child_env(root, env=None):
  """`env` (default os.environ) with root/code first on PYTHONPATH, for the scripts run."""
  env = dict(os.environ if env is None else env)
  code = os.path.join(root, "code")
  env["PYTHONPATH"] = code + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
  return env


def parse(argv, names, env=None, positional=()):
  """Reads settings `names` from the command line `argv` over the environment `env`.

  Args:
    argv: the arguments (without the program name).
    names: the NAMEs of the settings (DRY_RUN among them for -n / --dry_run).
    env: a mapping of environment variables (default os.environ).
    positional: NAMEs that bare arguments set, in order.

  Returns:
    ({NAME: str, or None where unset}, whether --help was asked).

  Raises:
    UsageError: an unknown flag, a flag without its value, an unexpected argument.
  """
  env = os.environ if env is None else env
  values = {name: env.get(name) for name in names}
  bare, help_asked, args = [], False, list(argv)
  while args:
    arg = args.pop(0)
    if arg in ("-h", "--help"):
      help_asked = True
    elif arg in ("-n", "--dry_run", "--dry-run") and "DRY_RUN" in values:
      values["DRY_RUN"] = "1"
    elif arg.startswith("--"):
      flag, has_value, value = arg[2:].partition("=")
      name = flag.replace("-", "_").upper()
      if name not in values:
        raise UsageError(f"unknown flag --{flag} (see --help)")
      if not has_value:
        if not args:
          raise UsageError(f"flag {arg} needs a value")
        value = args.pop(0)
      values[name] = value
    else:
      bare.append(arg)
  if len(bare) > len(positional):
    raise UsageError(f"unexpected argument {bare[len(positional)]!r} (see --help)")
  values.update(zip(positional, bare))
  return values, help_asked


def get(values, name, default=None):
  """The value of setting `name`; `default` where it is unset or empty."""
  value = values.get(name)
  return default if value is None or value == "" else value


def flag(values, name):
  """A yes/no setting: set to anything but '', 0, no or false."""
  return get(values, name, "0").lower() not in ("0", "no", "false")


def integer(values, name, default, minimum=0):
  """An integer setting of at least `minimum`; UsageError otherwise."""
  text = str(get(values, name, default))
  if not text.isdigit() or int(text) < minimum:
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    raise UsageError(f"{name} must be {what}, not {text!r}")
  return int(text)


def words(text):
  """The words of a list of spaces or commas."""
  return tuple(text.replace(",", " ").split())


def run(main, prog, argv=None, env=None):
  """Runs `main(argv, env)`; a UsageError prints `prog: error: <msg>` and returns 2."""
  try:
    return main(sys.argv[1:] if argv is None else argv, os.environ if env is None else env)
  except UsageError as e:
    print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
    return USAGE_EXIT_CODE
