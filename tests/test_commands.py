"""Tests of commands/: the run scripts (as dry runs and with a stand-in interpreter) and the
results collector. Standard library only; no TensorFlow."""
import importlib.util
import itertools
import os
import pathlib
import shlex
import stat
import subprocess
import sys
import textwrap

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMANDS = REPO_ROOT / 'commands'
SCRIPTS = ('train_studentnet_resnet.sh', 'train_studentnet_inception.sh')
DATASETS = ('cifar10', 'cifar100')
NOISES = ('0.2', '0.4', '0.8')
METHODS = ('baseline', 'self_paced', 'focal_loss', 'mentornet_pd', 'mentornet_dd')


def _load_collector():
  spec = importlib.util.spec_from_file_location('collect_results', COMMANDS / 'collect_results.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


collect_results = _load_collector()


def run_script(script, args=(), **env):
  full_env = {k: v for k, v in os.environ.items()
              if k not in ('NUM_GPUS', 'METHODS', 'DATASETS', 'NOISE_FRACTIONS', 'MAX_PARALLEL',
                           'OUTPUT_ROOT', 'DATA_ROOT', 'DRY_RUN', 'PYTHON', 'GPUS_PER_RUN',
                           'LOSS_P')}
  full_env.update(env)
  return subprocess.run(['bash', str(COMMANDS / script), *args], env=full_env, cwd='/',
                        capture_output=True, text=True, timeout=60)


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


def test_bash_syntax():
  scripts = sorted(COMMANDS.glob('*.sh'))
  assert {p.name for p in scripts} >= {'lib.sh', *SCRIPTS}
  for path in scripts:
    result = subprocess.run(['bash', '-n', str(path)], capture_output=True, text=True)
    assert result.returncode == 0, (path, result.stderr)


@pytest.mark.parametrize('script,studentnet,steps', [
    ('train_studentnet_resnet.sh', 'resnet101', '39000'),
    ('train_studentnet_inception.sh', 'inception', '120000'),
])
def test_dry_run_lists_every_run(script, studentnet, steps):
  result = run_script(script, DRY_RUN='1', NUM_GPUS='2')
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
  runs = by_run(parse_dry_run(run_script(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='2').stdout),
                'resnet101')
  written = by_run(parse_dry_run(run_script(SCRIPTS[0], ['--loss_p=written'], DRY_RUN='1',
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
  runs = by_run(parse_dry_run(run_script(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2',
                                         LOSS_P='written').stdout), 'inception')
  f = flags(runs[('cifar10', '0.4', 'mentornet_dd')][0])
  assert f['trained_mentornet_dir'] == 'mentornet_models/models/nl_0.2_percentile_90/mentornet_dd'
  assert f['fixed_epoch_after_burn_in'] is True and f['burn_in_epoch'] == '18'
  assert f['loss_p_percentile'] == '0.6'
  assert f['example_dropout_rates'] == '0.5,17,0.05,83'
  runs = by_run(parse_dry_run(run_script(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2').stdout),
                'inception')
  assert flags(runs[('cifar10', '0.4', 'mentornet_dd')][0])['loss_p_percentile'] == '0.7'


def test_resnet_devices_alternate_between_training_and_eval():
  runs = parse_dry_run(run_script(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='2').stdout)
  devices = [flags(argv)['device_id'] for run in runs for argv in run]
  assert devices == ['0', '1'] * 30
  runs = parse_dry_run(run_script(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='4').stdout)
  pairs = [(flags(t)['device_id'], flags(e)['device_id']) for t, e in runs]
  assert pairs[:4] == [('0', '1'), ('2', '3'), ('0', '1'), ('2', '3')]
  runs = parse_dry_run(run_script(SCRIPTS[0], DRY_RUN='1', NUM_GPUS='1').stdout)
  assert {flags(argv)['device_id'] for run in runs for argv in run} == {'0'}


def test_inception_runs_alternate_gpus_and_share_one_with_eval():
  runs = parse_dry_run(run_script(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2').stdout)
  pairs = [(flags(t)['device_id'], flags(e)['device_id']) for t, e in runs]
  assert pairs == [('0', '0'), ('1', '1')] * 15
  runs = parse_dry_run(run_script(SCRIPTS[1], DRY_RUN='1', NUM_GPUS='2', GPUS_PER_RUN='2').stdout)
  assert [flags(argv)['device_id'] for run in runs for argv in run] == ['0', '1'] * 30


def test_subsets_roots_and_flags():
  result = run_script(SCRIPTS[0], ['--dry_run', '--num_gpus=2', '--methods=mentornet_dd',
                                   '--noise_fractions', '0.4'],
                      DATASETS='cifar100', OUTPUT_ROOT='/tmp/out', DATA_ROOT='/d')
  assert result.returncode == 0, result.stderr
  [(train, evaluation)] = parse_dry_run(result.stdout)
  f, e = flags(train), flags(evaluation)
  assert f['train_log_dir'] == '/tmp/out/cifar100/resnet101/0.4/mentornet_dd/train'
  assert f['data_dir'] == '/d/cifar100/0.4'
  assert e['data_dir'] == '/d/cifar100/val'
  assert e['eval_dir'] == '/tmp/out/cifar100/resnet101/0.4/mentornet_dd/eval_val'
  result = run_script(SCRIPTS[1], DRY_RUN='1', METHODS='baseline, self_paced',
                      DATASETS='cifar10', NOISE_FRACTIONS='0.2,0.8')
  assert len(parse_dry_run(result.stdout)) == 4


def test_human_noise_directories_take_the_settings_of_the_nearest_fraction(tmp_path):
  for ds, noise, realized in (('cifar10', 'human_worse_label', 0.4021),
                              ('cifar10', 'human_aggre_label', 0.0903),
                              ('cifar100', 'human_noisy_label', 0.7)):
    directory = tmp_path / ds / noise
    directory.mkdir(parents=True)
    (directory / 'manifest.json').write_text(
        '{\n  "noise_type": "human",\n  "realized_noise": %s,\n  "seed": 0\n}\n' % realized)
  # The written percentiles differ per noise level (with the default LOSS_P=effective every
  # method runs p = 0.7, as the original did), so they show which level was picked.
  result = run_script(SCRIPTS[0], ['--dry_run', '--methods=baseline,mentornet_pd,mentornet_dd'],
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
  result = run_script(SCRIPTS[1], ['--dry_run', '--methods=mentornet_pd'], DATASETS='cifar100',
                      DATA_ROOT=str(tmp_path), NOISE_FRACTIONS='human_noisy_label',
                      LOSS_P='written')
  runs = by_run(parse_dry_run(result.stdout), 'inception')
  assert flags(runs[('cifar100', 'human_noisy_label', 'mentornet_pd')][0])[
      'loss_p_percentile'] == '0.5'
  # No manifest: refused before any command.
  result = run_script(SCRIPTS[0], ['--dry_run'], DATA_ROOT=str(tmp_path), DATASETS='cifar100',
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
  result = run_script(SCRIPTS[0], args, DRY_RUN='1', **env)
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
  result = run_script(SCRIPTS[0], PYTHON=str(fake), FAKE_LOG=str(log), OUTPUT_ROOT=str(out),
                      DATA_ROOT=str(tmp_path / 'data'), NUM_GPUS='4', DATASETS='cifar10',
                      METHODS='baseline,mentornet_dd', EVAL_GRACE_SECS='5')
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


def test_small_dd_pipeline_takes_its_regime_from_reproduce_small(tmp_path):
  """DRY_RUN of train_mentornet_dd_small.sh: the StudentNet, dump and percentile follow
  reproduce_small's defaults (222 a class, flip only, 1,600 steps, p = 0.6 at 40% noise)."""
  result = run_script('train_mentornet_dd_small.sh', [str(tmp_path / 'dd'), str(tmp_path / 's')],
                      DRY_RUN='1', PYTHON=sys.executable)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = [line[2:] for line in result.stdout.splitlines() if line.startswith('+ ')]
  assert "'symmetric', 222)" in lines[0]
  stages = [shlex.split(line) for line in lines if 'cifar_train_baseline.py' in line]
  assert [argv[-2] for argv in stages] == [f'--max_number_of_steps={s}' for s in
                                           (288, 640, 960, 1280, 1440, 1584, 1600)]
  assert all('--augmentation=flip' in argv and '--resnet_widths=16,16,32,64' in argv and
             '--learning_rate_boundaries=801,1026,1231' in argv for argv in stages)
  assert '--checkpoint_steps=288,640,960,1280,1440,1584' in lines[-3]
  assert '--percentiles=60' in lines[-2]
  assert f'--export_dir={tmp_path / "dd"}' in lines[-1]
  assert not (tmp_path / 's').exists()  # a dry run writes nothing
