"""User-facing errors: one clear line and a non-zero exit, before any work is touched."""
import functools
import sys


class UsageError(ValueError):
  """A bad flag, path or input file. The message is shown to the user as one line."""


class NonFiniteLossError(UsageError):
  """Training met a NaN or Inf loss or gradient (e.g. a learning rate too high); one line."""


USAGE_EXIT_CODE = 2


def exit_on_usage_error(main_fn):
  """Wraps an absl `main(argv)` so a `UsageError` prints `error: <msg>` and exits 2.

  Positional arguments left over after absl's flag parsing (e.g. a flag missing its `--`) are
  such an error too: every script takes flags only.
  """

  @functools.wraps(main_fn)
  def wrapped(argv, *args, **kwargs):
    try:
      if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags need --name=value)")
      return main_fn(argv, *args, **kwargs)
    except UsageError as e:
      message = " ".join(str(e).split())
      print(f"error: {message}", file=sys.stderr, flush=True)
      sys.exit(USAGE_EXIT_CODE)

  return wrapped


def parse_number_list(values, flag, kind, low, high, example=None):
  """'a,b,c' or a sequence -> list of `kind` (int or float) numbers in [low, high].

  Blank items are skipped. Raises `UsageError` naming `--flag` for a non-number, a value out of
  range (nan included) or
  an empty list; `example` (e.g. '0.2,0.4') is suggested when it is empty.
  """
  items = values.split(",") if isinstance(values, str) else list(values)
  numbers = []
  for item in items:
    text = str(item).strip()
    if not text:
      continue
    try:
      value = kind(text)
    except ValueError:
      what = "an integer" if kind is int else "a number"
      raise UsageError(f"--{flag} has {text!r}, which is not {what}") from None
    if not low <= value <= high:  # Also rejects nan.
      raise UsageError(f"--{flag} has {text}, outside [{low:g}, {high:g}]")
    numbers.append(value)
  if not numbers:
    hint = f"; give e.g. --{flag}={example}" if example else ""
    raise UsageError(f"--{flag} is empty{hint}")
  return numbers


def check_choice(flag, value, choices):
  """`UsageError` "--flag=value is not one of a, b" unless `value` is in `choices`."""
  if value not in choices:
    raise UsageError(f"--{flag}={value} is not one of {', '.join(map(str, choices))}")


def check_positive(config, names):
  """`UsageError` for the first attribute of `config` in `names` that is not > 0."""
  for name in names:
    if getattr(config, name) <= 0:
      raise UsageError(f"--{name}={getattr(config, name)} must be positive")
