"""User-facing errors: one clear line and a non-zero exit, before any work is touched."""
import functools
import sys


class UsageError(ValueError):
  """A bad flag, path or input file. The message is shown to the user as one line."""


USAGE_EXIT_CODE = 2


def exit_on_usage_error(main_fn):
  """Wraps an absl `main(argv)` so a `UsageError` prints `error: <msg>` and exits 2."""

  @functools.wraps(main_fn)
  def wrapped(*args, **kwargs):
    try:
      return main_fn(*args, **kwargs)
    except UsageError as e:
      message = " ".join(str(e).split())
      print(f"error: {message}", file=sys.stderr, flush=True)
      sys.exit(USAGE_EXIT_CODE)

  return wrapped
