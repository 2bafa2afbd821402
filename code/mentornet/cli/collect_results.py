"""`mentornet-collect-results` (commands/collect_results.py): the grid's accuracy tables.

  mentornet-collect-results --root=cifar_models --metric=both --original
"""
import argparse
import sys

from mentornet.experiments import collect


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--root", default="cifar_models",
                      help="OUTPUT_ROOT of the training scripts [cifar_models]")
  parser.add_argument("--studentnet", default=None,
                      help="only this StudentNet (resnet101 or inception) [all]")
  parser.add_argument("--metric", default="both", choices=collect.METRICS + ("both",),
                      help="best: best checkpoint; final: last checkpoint [both]")
  parser.add_argument("--original", action="store_true",
                      help="print the original authors' README numbers beside ours")
  args = parser.parse_args(argv)
  results = collect.collect(args.root, args.studentnet)
  if not results and not args.original:
    print(f"no eval_val/accuracy.csv with results under {args.root}", file=sys.stderr)
    return 1
  original = collect.ORIGINAL_RESULTS if args.original else None
  sys.stdout.write(collect.format_tables(results, args.metric, original, args.studentnet))
  return 0


def run_main():
  sys.exit(main())
