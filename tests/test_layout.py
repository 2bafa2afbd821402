"""The project's layout rules, checked: import layers, lint, and the size limits of the docs."""
import ast
import os
import pathlib
import subprocess
import sys

from conftest import CODE_DIR
from conftest import REPO_ROOT

PACKAGE = CODE_DIR / "mentornet"


def _tool(name):
  """A console script of the test extra (pip install '.[test]'), beside this interpreter."""
  path = pathlib.Path(sys.executable).parent / name
  assert path.exists(), f"{name} is not installed: pip install '.[test]'"
  return str(path)


def test_import_layers_and_no_import_circle():
  """.importlinter: each layer imports only lower ones; no circle inside any subpackage."""
  env = dict(os.environ, PYTHONPATH=str(CODE_DIR))
  proc = subprocess.run([_tool("lint-imports")], cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
  assert "2 kept, 0 broken" in proc.stdout


def test_ruff_passes_on_the_whole_tree():
  proc = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:]


def _defines_flags(path):
  """True when the module calls absl's flags.DEFINE_* anywhere."""
  tree = ast.parse(path.read_text(encoding="utf-8"))
  return any(isinstance(node, ast.Attribute) and node.attr.startswith("DEFINE")
             and isinstance(node.value, ast.Name) and node.value.id == "flags"
             for node in ast.walk(tree))


def test_absl_flags_are_defined_only_in_the_cli_layer():
  offenders = [str(path.relative_to(CODE_DIR)) for path in PACKAGE.rglob("*.py")
               if "cli" not in path.relative_to(PACKAGE).parts and _defines_flags(path)]
  assert not offenders


def test_cli_modules_define_no_flags_on_import():
  """Every entry point is importable next to the others: flags are defined by a function."""
  for path in sorted((PACKAGE / "cli").glob("*.py")):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level_calls = [node for node in tree.body if isinstance(node, ast.Expr)
                       and isinstance(node.value, ast.Call)
                       and "DEFINE" in ast.unparse(node.value.func)]
    assert not top_level_calls, path.name


def test_readme_and_command_scripts_stay_short():
  assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
  for script in sorted((REPO_ROOT / "commands").glob("*.sh")):
    assert len(script.read_text(encoding="utf-8").splitlines()) <= 40, script.name


def test_no_module_edits_sys_path():
  editors = [str(path.relative_to(CODE_DIR)) for path in PACKAGE.rglob("*.py")
             if "sys.path" in path.read_text(encoding="utf-8")]
  assert not editors


def test_docs_give_measured_bf16_figures_not_the_same_accuracy():
  """bf16 closes less of the gap than float32 at seed 0 (58% against 81%): no doc may claim the
  same accuracy, and the README gives the measured bf16 figures."""
  texts = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
  assert not [p.name for p in texts if "same accuracy" in p.read_text(encoding="utf-8")]
  readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
  assert "In bf16 PD closes 63% of the mean gap" in readme
