"""How big must the evaluation be? The best-vs-best interval for parts of one big evaluation.

    python data/benchmark.py --n_test=900 --out=out/d900          # (the committed split has 900 now)
    python train.py --data_dir=out/d900 --out_dir=out/size --eval_n=10 --eval_temperatures=0,0.4,0.7,1.0,1.3
    python lab/sizing.py --out_dir=out/size --problems=out/d900/test.jsonl

Reads every judged sample (out_dir/base_results.jsonl and ssd_results.jsonl) and recomputes
report.paired_bootstrap on the first N problems (the split cycles easy, medium, hard, so any N
keeps the thirds) with the first n samples of each problem and temperature: what more problems
buy against what more samples buy, at the same number of samples.
"""
import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data import read_jsonl, run_main   # noqa: E402  (the project root is on the path only now)
from report import paired_bootstrap  # noqa: E402
from tables import interval, markdown_table   # noqa: E402


def load(path):
    """(temperature, task_id) -> [passed, ...] in sample order."""
    passed = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        passed[(r["temperature"], r["task_id"])].append(r["passed"])
    return passed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out_dir", default="out/size")
    ap.add_argument("--run", default="ssd")
    ap.add_argument("--problems", default="data/test.jsonl")
    ap.add_argument("--temperatures", default="", help="only these (comma-separated; default: all in the files)")
    args = ap.parse_args(argv)
    problems = read_jsonl(args.problems)
    difficulty = {p["task_id"]: p["difficulty"] for p in problems}
    res = {m: load(os.path.join(args.out_dir, f"{f}_results.jsonl")) for m, f in (("base", "base"), ("SSD", args.run))}
    temps = sorted({t for t, _ in res["base"]})
    if args.temperatures:
        temps = [t for t in temps if f"{t:g}" in args.temperatures.split(",")]
    n_max = min(len(v) for (t, _), v in res["base"].items() if t > 0)
    tasks = [p["task_id"] for p in problems if (temps[-1], p["task_id"]) in res["base"]]
    print(f"{len(tasks)} problems, up to n = {n_max}, T = {', '.join(f'{t:g}' for t in temps)}\n")
    rows = []
    for N in sorted({min(len(tasks), k) for k in (450, 600, 750, 900, len(tasks))}):
        for n in sorted({5, n_max}):
            sweeps = {m: [{"temperature": t, "per_problem": {k: {"n": n, "c": sum(res[m][(t, k)][:n])}
                                                             for k in tasks[:N]}} for t in temps] for m in res}
            ci = paired_bootstrap(sweeps, difficulty)
            g, he = ci["best_vs_best"]["all"], ci["hard_minus_easy"]
            samples = N * (n * sum(t > 0 for t in temps) + sum(t == 0 for t in temps))
            rows.append([N, n, f"{samples:,}", interval(g["gain"], g["low"], g["high"], label=""),
                         f"{50 * (g['high'] - g['low']):.2f}", f"{50 * (he['high'] - he['low']):.2f}"])
    print(markdown_table(["problems", "n", "samples per model", "gain (95 % CI)", "half-width",
                          "hard - easy half-width"], rows))


if __name__ == "__main__":
    run_main(main)
