"""Tests of commands/: the run grid (mentornet.experiments.grid, in-process and through the
scripts), the MentorNet-learning pipelines and the results collector.

tests/data/dry_run/ holds what the scripts printed at bb9a286 (before they became Python),
with the repository root as <REPO_ROOT> and a DATA_ROOT as <DATA_ROOT>:
  train_studentnet_{resnet,inception}_gpus{1,8}.txt   DRY_RUN=1 NUM_GPUS=1|8 bash commands/...
  train_studentnet_{resnet,inception}_written.txt     DRY_RUN=1 NUM_GPUS=2 LOSS_P=written
  train_studentnet_resnet_human_noise.txt             the same, DATASETS=cifar10,
      NOISE_FRACTIONS=0.2,human_worse_label,human_aggre_label (realized noise 0.4021, 0.0903)
  training_mentornet_command.txt                      DRY_RUN=1 bash commands/...
"""
import io
import itertools
import json
import os
import pathlib
import shlex
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from mentornet.cli import grid as grid_cli
from mentornet.cli import learn_shipped
from mentornet.cli import settings as settings_lib
from mentornet.errors import UsageError
from mentornet.experiments import collect
from mentornet.experiments import grid
from mentornet.learning import pipelines

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMANDS = REPO_ROOT / 'commands'
GOLDEN = REPO_ROOT / 'tests' / 'data' / 'dry_run'
SCRIPTS = ('train_studentnet_resnet.sh', 'train_studentnet_inception.sh')
STUDENTNETS = {'train_studentnet_resnet.sh': 'resnet101',
               'train_studentnet_inception.sh': 'inception'}
DATASETS = ('cifar10', 'cifar100')
NOISES = ('0.2', '0.4', '0.8')
METHODS = ('baseline', 'self_paced', 'focal_loss', 'mentornet_pd', 'mentornet_dd')
SETTING_NAMES = ('NUM_GPUS', 'METHODS', 'DATASETS', 'NOISE_FRACTIONS', 'MAX_PARALLEL',
                 'OUTPUT_ROOT', 'DATA_ROOT', 'DRY_RUN', 'PYTHON', 'GPUS_PER_RUN', 'LOSS_P',
                 'STUDENTNET', 'MODELS', 'DD_FROM_CSV', 'SKIP_EVAL', 'MAX_STEPS')


collect_results = collect


def run_script(script, args=(), **env):
  """Runs commands/<script> with bash (from /, as the scripts need no particular cwd)."""
  full_env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
  full_env.update(env)
  return subprocess.run(['bash', str(COMMANDS / script), *args], env=full_env, cwd='/',
                        capture_output=True, text=True, timeout=120)


def run_grid(script, args=(), **env):
  """The grid of commands/<script>, in-process: (exit status, stdout, stderr)."""
  out, err = io.StringIO(), io.StringIO()
  argv = ['--studentnet=' + STUDENTNETS[script], *args]
  try:
    status = grid_cli.main(argv, env, root=str(REPO_ROOT), out=out, err=err)
  except UsageError as e:
    status, err = 2, io.StringIO(str(e))
  return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue())


def golden(name, **replace):
  text = (GOLDEN / name).read_text()
  for key, value in {'<REPO_ROOT>': str(REPO_ROOT), **replace}.items():
    text = text.replace(key, value)
  return text


def parse_dry_run(stdout):
  """[(train_argv, eval_argv)] of a dry run's output: a training command, then its eval."""
  commands = [shlex.split(line) for line in stdout.splitlines()
              if line.strip() and not line.startswith('#')]
  runs = []
  for argv in commands:
    if argv[1].startswith('code/cifar_train_'):
      runs.append([argv, None])
    else:
      assert argv[1] == 'code/cifar_eval.py', argv
      assert runs and runs[-1][1] is None, 'an eval command without its training command'
      runs[-1][1] = argv
  return runs


def flags(argv):
  """{name: value} of --name=value words; bare --flag words map to True."""
  out = {}
  for word in argv[2:]:
    assert word.startswith('--'), word
    name, sep, value = word[2:].partition('=')
    assert name not in out, 'flag given twice: %s' % name
    out[name] = value if sep else True
  return out


def by_run(runs, studentnet):
  table = {}
  for train, evaluation in runs:
    f = flags(train)
    parts = f['train_log_dir'].split('/')
    assert parts[0] == 'cifar_models' and parts[2] == studentnet and parts[-1] == 'train', parts
    table[(parts[1], parts[3], parts[4])] = (train, evaluation)
  return table


def write_manifests(root, levels):
  for ds, noise, realized in levels:
    directory = root / ds / noise
    directory.mkdir(parents=True)
    (directory / 'manifest.json').write_text(
        '{\n  "noise_type": "human",\n  "realized_noise": %s,\n  "seed": 0\n}\n' % realized)


# ---------------------------------------------------------------------------------------------
# The scripts: short, and printing what they printed before they became Python.


def test_bash_syntax_and_length():
  scripts = sorted(COMMANDS.glob('*.sh'))
  assert {p.name for p in scripts} == {*SCRIPTS, 'training_mentornet_command.sh',
                                       'train_mentornet_dd_small.sh',
                                       'train_studentnet_mentormix.sh'}
  for path in scripts:
    result = subprocess.run(['bash', '-n', str(path)], capture_output=True, text=True)
    assert result.returncode == 0, (path, result.stderr)
    assert len(path.read_text().splitlines()) <= 40, path


@pytest.mark.parametrize('script', SCRIPTS)
@pytest.mark.parametrize('num_gpus', ['1', '8'])
def test_dry_run_prints_the_original_lines(script, num_gpus):
  result = run_script(script, DRY_RUN='1', NUM_GPUS=num_gpus)
  assert result.returncode == 0, result.stderr
  name = '%s_gpus%s.txt' % (script[:-3], num_gpus)
  assert result.stdout == golden(name)


def test_training_mentornet_command_dry_run_prints_the_original_lines():
  result = run_script('training_mentornet_command.sh', DRY_RUN='1')
  assert result.returncode == 0, result.stderr
  assert result.stdout == golden('training_mentornet_command.txt')


@pytest.mark.parametrize('script', SCRIPTS)
def test_written_loss_p_prints_the_original_lines(script):
  result = run_grid(script, DRY_RUN='1', NUM_GPUS='2', LOSS_P='written')
  assert result.returncode == 0, result.stderr
  assert result.stdout == golden('%s_written.txt' % script[:-3])


def test_mentormix_grid_runs_the_authors_settings_per_noise_level():
  result = run_grid(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='1', DATASETS='cifar10',
                    NOISE_FRACTIONS='0.2,0.8', METHODS='mentormix', SKIP_EVAL='1')
  assert result.returncode == 0, result.stderr
  lines = [line for line in result.stdout.splitlines() if line.startswith('python ')]
  assert len(lines) == 2
  for line, flags in zip(lines, (
      '--mixup_alpha=2 --nosecond_reweight --loss_p_percentile=0.8 --burn_in_epoch=10',
      '--mixup_alpha=4 --second_reweight --loss_p_percentile=0.2 --burn_in_epoch=10')):
    assert line.startswith('python code/cifar_train_mentornet.py --dataset_name=cifar10 '
                           '--curriculum=mentormix --trained_mentornet_dir=mentornet_models/'
                           'models/mentornet_pd1_g_1/mentornet_pd ' + flags), line
    assert ' --mentormix_batch_norm_statistics=unmixed ' in line, line
  script = (REPO_ROOT / 'commands' / 'train_studentnet_mentormix.sh').read_text()
  assert '--methods=mentormix' in script


def test_human_noise_prints_the_original_lines(tmp_path):
  write_manifests(tmp_path, (('cifar10', 'human_worse_label', 0.4021),
                             ('cifar10', 'human_aggre_label', 0.0903)))
  result = run_grid(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='2', LOSS_P='written',
                    DATA_ROOT=str(tmp_path), DATASETS='cifar10',
                    NOISE_FRACTIONS='0.2,human_worse_label,human_aggre_label')
  assert result.returncode == 0, result.stderr
  assert result.stdout == golden('train_studentnet_resnet_human_noise.txt',
                                 **{'<DATA_ROOT>': str(tmp_path)})


# ---------------------------------------------------------------------------------------------
# The grid, in-process.


@pytest.mark.parametrize('script,studentnet,steps', [
    ('train_studentnet_resnet.sh', 'resnet101', '39000'),
    ('train_studentnet_inception.sh', 'inception', '120000'),
])
def test_dry_run_lists_every_run(script, studentnet, steps):
  result = run_grid(script, DRY_RUN='1', NUM_GPUS='2')
  assert result.returncode == 0, result.stderr
  runs = parse_dry_run(result.stdout)
  assert len(runs) == 30
  assert sum(line.count('code/cifar_train_') for line in result.stdout.splitlines()) == 30
  table = by_run(runs, studentnet)
  assert set(table) == set(itertools.product(DATASETS, NOISES, METHODS))
  for (dataset, noise, method), (train, evaluation) in table.items():
    f = flags(train)
    run_dir = 'cifar_models/%s/%s/%s/%s' % (dataset, studentnet, noise, method)
    assert train[0] == 'python'
    assert f['dataset_name'] == dataset
    assert f['data_dir'] == 'data/%s/%s' % (dataset, noise)
    assert f['train_log_dir'] == run_dir + '/train'
    assert f['studentnet'] == studentnet
    assert f['max_number_of_steps'] == steps
    if method == 'baseline':
      assert train[1] == 'code/cifar_train_baseline.py'
      assert 'trained_mentornet_dir' not in f and 'loss_p_percentile' not in f
    else:
      assert train[1] == 'code/cifar_train_mentornet.py'
      assert f['trained_mentornet_dir'].startswith('mentornet_models/models/')
    e = flags(evaluation)
    assert e['dataset_name'] == dataset
    assert e['data_dir'] == 'data/%s/val' % dataset
    assert e['checkpoint_dir'] == run_dir + '/train'
    assert e['eval_dir'] == run_dir + '/eval_val'
    assert e['output_csv_file'] == run_dir + '/eval_val/accuracy.csv'
    assert e['studentnet'] == studentnet
    assert int(e['eval_timeout_secs']) > 0
    if studentnet == 'inception':
      assert f['num_epochs_per_decay'] == '200' and f['learning_rate_decay_factor'] == '0.1'
    else:
      assert 'num_epochs_per_decay' not in f


def test_resnet_settings_of_the_original():
  """The original commands' settings; p = 0.7 (what the original ran) unless LOSS_P=written."""
  runs = by_run(parse_dry_run(run_grid(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='2').stdout),
                'resnet101')
  written = by_run(parse_dry_run(run_grid(SCRIPTS[0], ['--loss_p=written'], DRY_RUN='1',
                                          NUM_GPUS='2').stdout), 'resnet101')
  assert {flags(t).get('loss_p_percentile') for t, _ in runs.values()} == {None, '0.7'}
  for key, (train, evaluation) in runs.items():
    f, w = flags(train), flags(written[key][0])
    assert f.pop('loss_p_percentile', None) == '0.7' or key[2] == 'baseline'
    w.pop('loss_p_percentile', None)
    assert f == w and evaluation == written[key][1]
  f = flags(written[('cifar10', '0.4', 'mentornet_dd')][0])
  assert f['trained_mentornet_dir'] == 'mentornet_models/models/nl_0.2_percentile_90/mentornet_dd'
  assert f['fixed_epoch_after_burn_in'] is True and 'nofixed_epoch_after_burn_in' not in f
  assert f['burn_in_epoch'] == '18'
  assert f['loss_p_percentile'] == '0.6'
  assert f['example_dropout_rates'] == '0.5,17,0.05,78,0.9,5'
  f = flags(written[('cifar100', '0.8', 'mentornet_pd')][0])
  assert f['trained_mentornet_dir'] == 'mentornet_models/models/mentornet_pd1_g_1/mentornet_pd'
  assert f['nofixed_epoch_after_burn_in'] is True and 'fixed_epoch_after_burn_in' not in f
  assert f['burn_in_epoch'] == '0'
  assert f['loss_p_percentile'] == '0.5'
  assert f['example_dropout_rates'] == '0.5,17,0.05,83'
  assert flags(written[('cifar10', '0.2', 'mentornet_pd')][0])['loss_p_percentile'] == '0.75'
  assert flags(written[('cifar100', '0.2', 'mentornet_dd')][0])['loss_p_percentile'] == '0.8'
  f = flags(written[('cifar10', '0.2', 'self_paced')][0])
  assert f['trained_mentornet_dir'] == 'mentornet_models/models/self_paced/self_paced_mentornet'
  assert (f['loss_p_percentile'], f['example_dropout_rates']) == ('0.7', '0.0,100')
  f = flags(runs[('cifar100', '0.4', 'focal_loss')][0])
  assert f['trained_mentornet_dir'] == 'mentornet_models/models/focal_loss/focal_loss_mentornet'


def test_inception_settings_of_the_original():
  runs = by_run(parse_dry_run(run_grid(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2',
                                       LOSS_P='written').stdout), 'inception')
  f = flags(runs[('cifar10', '0.4', 'mentornet_dd')][0])
  assert f['trained_mentornet_dir'] == 'mentornet_models/models/nl_0.2_percentile_90/mentornet_dd'
  assert f['fixed_epoch_after_burn_in'] is True and f['burn_in_epoch'] == '18'
  assert f['loss_p_percentile'] == '0.6'
  assert f['example_dropout_rates'] == '0.5,17,0.05,83'
  runs = by_run(parse_dry_run(run_grid(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2').stdout),
                'inception')
  assert flags(runs[('cifar10', '0.4', 'mentornet_dd')][0])['loss_p_percentile'] == '0.7'


def test_resnet_devices_alternate_between_training_and_eval():
  runs = parse_dry_run(run_grid(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='2').stdout)
  devices = [flags(argv)['device_id'] for run in runs for argv in run]
  assert devices == ['0', '1'] * 30
  runs = parse_dry_run(run_grid(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='4').stdout)
  pairs = [(flags(t)['device_id'], flags(e)['device_id']) for t, e in runs]
  assert pairs[:4] == [('0', '1'), ('2', '3'), ('0', '1'), ('2', '3')]
  runs = parse_dry_run(run_grid(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='1').stdout)
  assert {flags(argv)['device_id'] for run in runs for argv in run} == {'0'}


def test_inception_runs_alternate_gpus_and_share_one_with_eval():
  runs = parse_dry_run(run_grid(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2').stdout)
  pairs = [(flags(t)['device_id'], flags(e)['device_id']) for t, e in runs]
  assert pairs == [('0', '0'), ('1', '1')] * 15
  runs = parse_dry_run(run_grid(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2', GPUS_PER_RUN='2').stdout)
  assert [flags(argv)['device_id'] for run in runs for argv in run] == ['0', '1'] * 30


def test_subsets_roots_and_flags():
  result = run_grid(SCRIPTS[0], ['--dry_run', '--num_gpus=2', '--methods=mentornet_dd',
                                 '--noise_fractions', '0.4'],
                    DATASETS='cifar100', OUTPUT_ROOT='/tmp/out', DATA_ROOT='/d')
  assert result.returncode == 0, result.stderr
  [(train, evaluation)] = parse_dry_run(result.stdout)
  f, e = flags(train), flags(evaluation)
  assert f['train_log_dir'] == '/tmp/out/cifar100/resnet101/0.4/mentornet_dd/train'
  assert f['data_dir'] == '/d/cifar100/0.4'
  assert e['data_dir'] == '/d/cifar100/val'
  assert e['eval_dir'] == '/tmp/out/cifar100/resnet101/0.4/mentornet_dd/eval_val'
  result = run_grid(SCRIPTS[1], DRY_RUN='1', METHODS='baseline, self_paced',
                    DATASETS='cifar10', NOISE_FRACTIONS='0.2,0.8')
  assert len(parse_dry_run(result.stdout)) == 4


def test_human_noise_directories_take_the_settings_of_the_nearest_fraction(tmp_path):
  write_manifests(tmp_path, (('cifar10', 'human_worse_label', 0.4021),
                             ('cifar10', 'human_aggre_label', 0.0903),
                             ('cifar100', 'human_noisy_label', 0.7)))
  # The written percentiles differ per noise level (with the default LOSS_P=effective every
  # method runs p = 0.7, as the original did), so they show which level was picked.
  result = run_grid(SCRIPTS[0], ['--dry_run', '--methods=baseline,mentornet_pd,mentornet_dd'],
                    DATA_ROOT=str(tmp_path), DATASETS='cifar10', LOSS_P='written',
                    NOISE_FRACTIONS='human_worse_label,human_aggre_label')
  assert result.returncode == 0, result.stderr
  runs = by_run(parse_dry_run(result.stdout), 'resnet101')
  assert len(runs) == 6
  worse = flags(runs[('cifar10', 'human_worse_label', 'mentornet_dd')][0])
  assert worse['data_dir'] == '%s/cifar10/human_worse_label' % tmp_path
  assert worse['loss_p_percentile'] == '0.6' and worse['burn_in_epoch'] == '18'
  assert flags(runs[('cifar10', 'human_aggre_label', 'mentornet_dd')][0])[
      'loss_p_percentile'] == '0.8'
  assert flags(runs[('cifar10', 'human_worse_label', 'mentornet_pd')][0])[
      'loss_p_percentile'] == '0.75'
  result = run_grid(SCRIPTS[1], ['--dry_run', '--methods=mentornet_pd'], DATASETS='cifar100',
                    DATA_ROOT=str(tmp_path), NOISE_FRACTIONS='human_noisy_label',
                    LOSS_P='written')
  runs = by_run(parse_dry_run(result.stdout), 'inception')
  assert flags(runs[('cifar100', 'human_noisy_label', 'mentornet_pd')][0])[
      'loss_p_percentile'] == '0.5'
  # No manifest: refused before any command.
  result = run_grid(SCRIPTS[0], ['--dry_run'], DATA_ROOT=str(tmp_path), DATASETS='cifar100',
                    NOISE_FRACTIONS='0.4,human_worse_label')
  assert result.returncode == 2 and 'code/cifar_train' not in result.stdout
  assert 'cifar100/human_worse_label/manifest.json is missing' in result.stderr


@pytest.mark.parametrize('args,env,message', [
    ((), {'METHODS': 'nope'}, "unknown method 'nope'"),
    (('--no_such_flag=1',), {}, 'unknown flag'),
    ((), {'NUM_GPUS': '0'}, 'NUM_GPUS'),
    ((), {'DATASETS': 'mnist'}, "unknown dataset 'mnist'"),
    (('--loss_p=typed',), {}, "invalid choice: 'typed'"),
])
def test_bad_settings_are_refused(args, env, message):
  result = run_grid(SCRIPTS[0], args, DRY_RUN='1', **env)
  assert result.returncode != 0
  assert message in result.stderr
  assert 'code/cifar_train' not in result.stdout


def test_runs_are_launched_and_waited_for(tmp_path):
  """A stand-in interpreter records its arguments; a training run on noise 0.4 fails."""
  fake = tmp_path / 'fake_python'
  fake.write_text(textwrap.dedent('''\
      #!/bin/bash
      echo "$*" >> "$FAKE_LOG"
      case "$1" in
        code/cifar_eval.py) sleep 0.2; exit 0 ;;
        *) case "$*" in *--data_dir=*/0.4\\ *) exit 3 ;; esac; sleep 0.3 ;;
      esac
      '''))
  fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
  log = tmp_path / 'calls.txt'
  out = tmp_path / 'out'
  result = run_grid(SCRIPTS[0], PYTHON=str(fake), FAKE_LOG=str(log), OUTPUT_ROOT=str(out),
                    DATA_ROOT=str(tmp_path / 'data'), NUM_GPUS='4', DATASETS='cifar10',
                    METHODS='baseline,mentornet_dd', EVAL_GRACE_SECS='5',
                    PATH=os.environ['PATH'])
  assert result.returncode == 1, result.stdout + result.stderr
  assert 'cifar10 noise=0.4 baseline' in result.stderr
  assert 'cifar10 noise=0.4 mentornet_dd' in result.stderr
  calls = log.read_text().splitlines()
  evals = [c for c in calls if c.startswith('code/cifar_eval.py')]
  assert len(calls) - len(evals) == 6
  # A failed training run's eval job is stopped at once, perhaps before it got going.
  assert sum('/0.4/' not in c for c in evals) == 4
  for noise, method in itertools.product(NOISES, ('baseline', 'mentornet_dd')):
    run_dir = out / 'cifar10' / 'resnet101' / noise / method
    assert (run_dir / 'train.log').exists() and (run_dir / 'eval.log').exists()
  # Two runs at a time: one trains on GPU 0 and evaluates on 1, the other on GPUs 2 and 3.
  devices = {(c.split()[0], w) for c in calls for w in c.split() if w.startswith('--device_id=')}
  assert {d for s, d in devices if s == 'code/cifar_eval.py'} <= {'--device_id=1', '--device_id=3'}
  assert {d for s, d in devices if s != 'code/cifar_eval.py'} <= {'--device_id=0', '--device_id=2'}


def test_unknown_flag_is_one_line_and_exit_2():
  result = run_script(SCRIPTS[0], ['--no_such_flag=1'])
  assert result.returncode == 2
  assert result.stderr == 'mentornet-grid: error: unknown flag --no_such_flag (see --help)\n'
  assert result.stdout == ''


def test_help_lists_every_setting_with_the_studentnets_defaults():
  result = run_grid(SCRIPTS[1], ['--help'])
  assert result.returncode == 0
  for name in grid_cli.SETTINGS:
    assert '\n  %s ' % name in result.stdout or '\n  %s=' % name in result.stdout, name
  assert '[120000]' in result.stdout
  assert 'both on one GPU\n                     [1]' in result.stdout
  assert '[39000]' in run_grid(SCRIPTS[0], ['-h']).stdout


def test_settings_flags_win_over_the_environment():
  values, help_asked = settings_lib.parse(
      ['--num-gpus', '4', '-n', '--methods=a,b'], ('NUM_GPUS', 'METHODS', 'DRY_RUN', 'DATA_ROOT'),
      {'NUM_GPUS': '2', 'DATA_ROOT': '/d'})
  assert values == {'NUM_GPUS': '4', 'METHODS': 'a,b', 'DRY_RUN': '1', 'DATA_ROOT': '/d'}
  assert not help_asked
  with pytest.raises(UsageError, match="unexpected argument 'x'"):
    settings_lib.parse(['x'], ('DRY_RUN',), {})
  with pytest.raises(UsageError, match='--num_gpus needs a value'):
    settings_lib.parse(['--num_gpus'], ('NUM_GPUS',), {})


def test_skip_eval_max_parallel_and_empty_eval_timeout():
  result = run_grid(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='4', SKIP_EVAL='1', METHODS='baseline',
                    MAX_PARALLEL='0', MAX_STEPS='100')
  runs = parse_dry_run(result.stdout)
  assert [e for _, e in runs] == [None] * 6
  assert [flags(t)['device_id'] for t, _ in runs] == ['0', '2', '0', '2', '0', '2']
  assert {flags(t)['max_number_of_steps'] for t, _ in runs} == {'100'}
  assert '# [1/6] cifar10 noise=0.2 baseline: train on GPU 0\n' in result.stdout
  result = run_grid(SCRIPTS[0], ['--eval_timeout_secs='], DRY_RUN='1', METHODS='baseline',
                    EXTRA_EVAL_FLAGS='--batch_size=50 --a=b')
  [(_, evaluation)] = parse_dry_run(result.stdout)[:1]
  assert 'eval_timeout_secs' not in flags(evaluation)
  assert evaluation[-2:] == ['--batch_size=50', '--a=b']


def test_format_command_quotes_only_what_needs_it():
  assert grid.format_command(['python', 'a.py', '--x=1,2', "--y=it's here"]) == (
      "python a.py --x=1,2 '--y=it'\\''s here'")
  assert shlex.split(grid.format_command(['a b', "c'd", '[x]'])) == ['a b', "c'd", '[x]']


def test_interrupt_stops_the_runs(tmp_path):
  """SIGTERM (as Ctrl-C) to the grid stops every training run and eval job; exit 130."""
  fake = tmp_path / 'fake_python'
  fake.write_text('#!/bin/bash\necho $$ >> "$FAKE_PIDS"\nexec sleep 60\n')
  fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
  pids = tmp_path / 'pids'
  env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
  env.update(PYTHON=str(fake), FAKE_PIDS=str(pids), OUTPUT_ROOT=str(tmp_path / 'out'),
             DATA_ROOT=str(tmp_path / 'data'), NUM_GPUS='2', DATASETS='cifar10',
             METHODS='baseline', NOISE_FRACTIONS='0.2')
  process = subprocess.Popen(['bash', str(COMMANDS / SCRIPTS[0])], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  deadline = time.time() + 30
  while time.time() < deadline and not (pids.exists() and len(pids.read_text().split()) == 2):
    time.sleep(0.1)
  process.send_signal(signal.SIGTERM)
  stdout, stderr = process.communicate(timeout=30)
  assert process.returncode == 130, stdout + stderr
  assert 'interrupted, stopping the runs' in stderr
  for pid in map(int, pids.read_text().split()):
    with pytest.raises(ProcessLookupError):
      os.kill(pid, 0)


# ---------------------------------------------------------------------------------------------
# collect_results.py


def write_csv(root, rel, text):
  path = root / rel / 'eval_val' / 'accuracy.csv'
  path.parent.mkdir(parents=True)
  path.write_text(textwrap.dedent(text))


@pytest.fixture
def results_root(tmp_path):
  write_csv(tmp_path, 'cifar10/resnet101/0.2/baseline', '''\
      global_step,accuracy,loss
      1000,0.5,2.0
      2000,0.7,1.5
      3000,0.69,1.6
      ''')
  write_csv(tmp_path, 'cifar10/resnet101/0.2/self_paced', '''\
      1000,0.71,1.0
      2000,0.6,1.2
      ''')
  write_csv(tmp_path, 'cifar10/resnet101/0.2/mentornet_dd', '''\
      global_step,accuracy,loss
      1000,0.6,1.0
      2000,0.9,0.5
      global_step,accuracy,loss
      2000,0.68,0.9
      3000,0.66,1.0
      ''')
  write_csv(tmp_path, 'cifar10/resnet101/0.4/mentornet_dd', '39000,0.887,0.5\n')
  write_csv(tmp_path, 'cifar10/resnet101/0.4/data_parameters', '39000,0.911,0.3\n')
  write_csv(tmp_path, 'cifar10/resnet101/0.8/focal_loss', 'global_step,accuracy,loss\n')
  # The original repository's layout: `resnet` and `mentornet_pd1_g_1`.
  write_csv(tmp_path, 'cifar10/resnet/0.2/mentornet_pd1_g_1', '100,0.3,2\n200,0.4,2\n')
  write_csv(tmp_path, 'cifar100/inception/0.8/focal_loss', '10,0.25,3\n20,0.2,3\n')
  write_csv(tmp_path, 'cifar100/inception/0.8/mentornet_pd', '10,0.25,3\n')
  return tmp_path


def test_collect(results_root):
  results = collect_results.collect(str(results_root))
  assert set(results) == {'cifar10', 'cifar100'}
  assert set(results['cifar10']) == {'resnet101'}
  runs = results['cifar10']['resnet101']
  assert set(runs) == {'0.2', '0.4'}  # 0.8 holds only an empty file.
  dd = runs['0.2']['mentornet_dd']
  assert (dd['best'], dd['best_step'], dd['final'], dd['final_step']) == (0.68, 2000, 0.66, 3000)
  assert dd['num_evals'] == 3
  assert runs['0.2']['mentornet_pd']['final'] == 0.4
  assert collect_results.collect(str(results_root), 'inception').keys() == {'cifar100'}
  assert collect_results.collect(str(results_root / 'missing')) == {}


def test_format_tables_best_and_final(results_root):
  results = collect_results.collect(str(results_root), 'resnet101')
  text = collect_results.format_tables(results, 'both')
  best = '\n'.join([
      '**CIFAR-10 ResNet**: best accuracy',
      '',
      '| noise_fraction | baseline | self_paced | focal_loss | mentornet_pd | mentornet_dd '
      '| data_parameters |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| 0.2 | 0.700 | **0.710** | - | 0.400 | 0.680 | - |',
      '| 0.4 | - | - | - | - | 0.887 | **0.911** |',
      '| 0.8 | - | - | - | - | - | - |',
  ])
  final = best.replace('best accuracy', 'final accuracy').replace(
      '| 0.2 | 0.700 | **0.710** | - | 0.400 | 0.680 | - |',
      '| 0.2 | **0.690** | 0.600 | - | 0.400 | 0.660 | - |')
  assert text == best + '\n\n' + final + '\n'
  assert collect_results.format_tables(results, 'best') == best + '\n'
  assert collect_results.format_tables(results, 'final') == final + '\n'


def test_format_tables_ties_and_original(results_root):
  results = collect_results.collect(str(results_root))
  text = collect_results.format_tables(results, 'best')
  assert '**CIFAR-100 Inception**: best accuracy' in text
  assert '| 0.8 | - | - | **0.250** | **0.250** | - |' in text
  text = collect_results.format_tables(results, 'best', collect_results.ORIGINAL_RESULTS,
                                       'resnet101')
  assert '**CIFAR-100 ResNet**: best accuracy' in text  # Only the original has numbers.
  assert 'Inception' not in text
  assert ('| 0.2 | 0.700 (0.796) | **0.710** (0.822) | - (0.797) | 0.400 (0.910) '
          '| 0.680 (0.914) | - (-) |') in text
  assert '| 0.8 | - (0.084) | - (0.089) | - (0.079) | - (0.193) | - (0.301) |' in text


def test_human_noise_rows_follow_the_fractions(results_root):
  write_csv(results_root, 'cifar10/resnet101/human_worse_label/mentornet_dd', '39000,0.8,0.5\n')
  write_csv(results_root, 'cifar10/resnet101/human_aggre_label/baseline', '39000,0.85,0.5\n')
  results = collect_results.collect(str(results_root), 'resnet101')
  assert results['cifar10']['resnet101']['human_worse_label']['mentornet_dd']['final'] == 0.8
  lines = collect_results.format_tables(results, 'final').splitlines()
  rows = [line.split(' | ')[0] for line in lines if line.startswith('| ') and '---' not in line]
  assert rows[:6] == ['| noise_fraction', '| 0.2', '| 0.4', '| 0.8', '| human_aggre_label',
                      '| human_worse_label']
  assert '| human_worse_label | - | - | - | - | **0.800** | - |' in lines


def test_tables_split_by_recorded_precision(results_root):
  """A run's train_config.json names its precision; runs of two precisions never share a table."""
  for rel, policy in (('cifar10/resnet101/0.2/baseline', 'mixed_bfloat16'),
                      ('cifar10/resnet101/0.2/self_paced', 'none'),
                      ('cifar10/resnet101/0.4/mentornet_dd', 'none')):
    (results_root / rel / 'train').mkdir()
    (results_root / rel / 'train' / 'train_config.json').write_text(
        json.dumps({'mixed_precision': policy}))
  results = collect.collect(str(results_root), 'resnet101')
  runs = results['cifar10']['resnet101']
  assert runs['0.2']['baseline']['precision'] == 'mixed_bfloat16'
  assert runs['0.2']['self_paced']['precision'] == 'float32'
  assert runs['0.2']['mentornet_dd']['precision'] is None
  text = collect.format_tables(results, 'final')
  titles = [line for line in text.splitlines() if line.startswith('**')]
  assert titles == ['**CIFAR-10 ResNet**: final accuracy (float32)',
                    '**CIFAR-10 ResNet**: final accuracy (mixed_bfloat16)',
                    '**CIFAR-10 ResNet**: final accuracy']
  bf16 = text.split('(mixed_bfloat16)')[1].split('**CIFAR-10')[0]
  assert '| 0.2 | **0.690** | - | - | - | - |' in bf16


def test_cli(results_root):
  script = str(COMMANDS / 'collect_results.py')
  result = subprocess.run([sys.executable, script, '--root=%s' % results_root,
                           '--studentnet=resnet101', '--metric=final'],
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith('**CIFAR-10 ResNet**: final accuracy\n')
  assert '| 0.2 | **0.690** |' in result.stdout
  result = subprocess.run([sys.executable, script, '--root=%s' % (results_root / 'none')],
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 1 and 'no eval_val/accuracy.csv' in result.stderr


# ---------------------------------------------------------------------------------------------
# The MentorNet-learning pipelines.


def run_learn_shipped(args=(), **env):
  out = io.StringIO()
  status = learn_shipped.main(list(args), env, root=str(REPO_ROOT), out=out)
  return status, [line[2:] for line in out.getvalue().splitlines() if line.startswith('+ ')]


def test_learn_shipped_models_and_dd_from_csv():
  status, lines = run_learn_shipped(['out', 'scratch'], DRY_RUN='1', MODELS='focal_loss dd',
                                    DD_FROM_CSV='1', PYTHON='py -u')
  assert status == 0
  assert lines == [
      'py -u code/training_mentornet/data_generator.py --outdir=scratch/data/focal_loss '
      '--vstar_fn=vstar_focal_loss --vstar_gamma=2 --sample_size=100000 --seed=0',
      'py -u code/training_mentornet/train.py --train_dir=scratch/train/focal_loss '
      '--data_path=scratch/data/focal_loss --max_step_train=3e4 --learning_rate=0.1 --seed=0 '
      '--export_dir=out/focal_loss/focal_loss_mentornet',
      'py -u code/training_mentornet/data_generator.py --vstar_fn=data_driven '
      '--input_csv_filename=mentornet_models/studentnet_dump_csv/nl_0.2.csv '
      '--outdir=scratch/data/dd --seed=0',
      'py -u code/training_mentornet/train.py --train_dir=scratch/train/dd '
      '--data_path=scratch/data/dd/nl_0.2_percentile_90 --max_step_train=3e4 '
      '--learning_rate=0.1 --seed=0 --export_dir=out/nl_0.2_percentile_90/mentornet_dd']
  with pytest.raises(UsageError, match='unknown MODELS nope'):
    run_learn_shipped(MODELS='nope,dd')


def test_run_steps_stops_at_a_failed_command(tmp_path):
  calls = []
  steps = [pipelines.Step(call=lambda: calls.append(1), text='first'),
           pipelines.Step((sys.executable, '-c', 'raise SystemExit(3)')),
           pipelines.Step(call=lambda: calls.append(2), text='never')]
  out = io.StringIO()
  assert pipelines.run_steps(steps, out=out) == 3
  assert calls == [1]
  assert out.getvalue().startswith('+ first\n  (0 s)\n+ %s -c raise' % sys.executable)


def test_small_dd_pipeline_takes_its_regime_from_reproduce_small(tmp_path):
  """The dry run of train_mentornet_dd_small.sh: the StudentNet, dump and percentile follow
  reproduce_small's defaults (222 a class, flip only, 1,600 steps, p = 0.6 at 40% noise)."""
  from mentornet.cli import mentornet_dd_small
  out = io.StringIO()
  status = mentornet_dd_small.main([str(tmp_path / 'dd'), str(tmp_path / 's'), '--dry_run'], {},
                                   root=str(REPO_ROOT), out=out)
  assert status == 0
  lines = [line[2:] for line in out.getvalue().splitlines() if line.startswith('+ ')]
  assert lines[0].startswith('reproduce_small.prepare_data(')
  assert "examples_per_class=222, noise_type='symmetric', val_fraction=0.1" in lines[0]
  assert "noise_fraction=0.4, seed=10, data_root='%s/data')" % (tmp_path / 's') in lines[0]
  stages = [shlex.split(line) for line in lines if 'cifar_train_baseline.py' in line]
  assert [argv[-2] for argv in stages] == [f'--max_number_of_steps={s}' for s in
                                           (288, 640, 960, 1280, 1440, 1584, 1600)]
  assert all('--augmentation=flip' in argv and '--resnet_widths=16,16,32,64' in argv and
             '--learning_rate_boundaries=801,1026,1231' in argv for argv in stages)
  assert '--checkpoint_steps=288,640,960,1280,1440,1584' in lines[-3]
  assert '--percentiles=60' in lines[-2]
  assert f'--export_dir={tmp_path / "dd"}' in lines[-1]
  assert not (tmp_path / 's').exists()  # a dry run writes nothing
