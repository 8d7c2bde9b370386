"""The seed study, the controls and the fresh benchmark draws behind README.md (RESULTS.md has them all).

    python lab/study.py                      # seeds 0,1,2: the demo, the paper's recipe, 4 controls (~60 min, 2 cores)
    python lab/study.py --seeds=0 --only=ssd # just the demo for seed 0
    python lab/study.py --data_seeds=test,31,32,33 --seeds=0,1 --ssd_seeds=0,1 --only=ssd,paper,fixed_point
                                         # the pre-registered protocol (RESULTS.md; ~110 min for the three fresh draws)
    python lab/study.py --summarize          # only rebuild out/study.md from the reports already there
    python lab/study.py --out=out/bugs60 --data_dir=out/bugs60_data   # any other option goes to train.py

For each benchmark draw and base seed it runs `python train.py --seed=S` (pretrain, SSD, evaluate),
then the paper's own recipe and the controls, which reuse that base model and its evaluation:
  paper         T_train 1.6, top-k 20, top-p 0.8, without the demo's min-p 0.3
  fixed_point   T_train 1.0, no truncation      the paper's fixed point: expect no gain
  trunc_only    T_train 1.0, top-k 20, top-p 0.8
  temp_only     T_train 1.6, no truncation
  stress        T_train 2.0, no truncation      the paper's stress test (much of it is gibberish)
A draw is `test` (the committed data/, generator seed 1234: out/seedS) or a generator seed D
(`data/benchmark.py --seed=D`, the committed split sizes: out/drawD/seedS). With --ssd_seeds every
recipe runs once per SSD seed (--ssd_seed=X, run name RUN_sX) on the same base model.

out/study.md gets one row per run (best-vs-best pass@1, the gain and its paired-bootstrap interval)
and, per recipe, the pooled gain over all runs with a hierarchical bootstrap interval (draws, then
base seeds, then SSD seeds, then test problems are resampled), and the split of the spread into
draw, base-seed and SSD-seed parts.
"""
import argparse
import json
import os
import statistics
import signal
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)                       # the lesson's scripts live one folder up

from data import run_main, unwritable          # noqa: E402
from tables import interval, markdown_table    # noqa: E402

RUNS = {  # name: SSD settings (the demo's default recipe: T 1.6, top-k 20, top-p 0.8, min-p 0.3)
    "ssd": [],
    "paper": ["--ssd_min_p=0"],
    "fixed_point": ["--ssd_temperature=1.0", "--ssd_top_k=0", "--ssd_top_p=1.0", "--ssd_min_p=0"],
    "trunc_only": ["--ssd_temperature=1.0", "--ssd_top_k=20", "--ssd_top_p=0.8", "--ssd_min_p=0"],
    "temp_only": ["--ssd_temperature=1.6", "--ssd_top_k=0", "--ssd_top_p=1.0", "--ssd_min_p=0"],
    "stress": ["--ssd_temperature=2.0", "--ssd_top_k=0", "--ssd_top_p=1.0", "--ssd_min_p=0"],
}
SPLIT_SIZES = ["--n_pretrain=6000", "--n_val=300", "--n_ssd=2000"]   # data/'s sizes; the test size is read from data/


def draw_dirs(out, draw):
    """(the draw's data folder, the folder under which its base seeds go)."""
    if draw == "test":
        return os.path.join(ROOT, "data"), out
    return os.path.join(out, f"draw{draw}", "data"), os.path.join(out, f"draw{draw}")


def run_name(run, ssd_seed):
    return run if ssd_seed is None else f"{run}_s{ssd_seed}"


def make_draw(out, draw):
    """Generate a fresh benchmark draw (all four splits) unless it is there already."""
    data, _ = draw_dirs(out, draw)
    if draw == "test" or os.path.exists(os.path.join(data, "test.jsonl")):
        return
    n_test = sum(1 for _ in open(os.path.join(ROOT, "data", "test.jsonl")))
    run_command([sys.executable, os.path.join(ROOT, "data", "benchmark.py"), f"--seed={draw}", *SPLIT_SIZES, f"--n_test={n_test}", f"--out={data}"])


def run_command(cmd):
    """Run one step of the study (its output goes to the terminal). A failed step ends the study
    with one line naming it: its own message is the last thing it printed, just above."""
    shown = "python " + " ".join([os.path.relpath(cmd[1]), *cmd[2:]])   # train.py, not /home/.../train.py
    print("$ " + shown, flush=True)
    code = subprocess.run(cmd).returncode
    if code:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"failed with exit code {code}"
        raise SystemExit(f"error: `{shown}` {how} (its output is above)")


def load_reports(out, draws, seeds, ssd_seeds, run):
    """{(draw, seed, ssd_seed): report} for the runs of one recipe that exist."""
    found = {}
    for d in draws:
        for s in seeds:
            for x in ssd_seeds:
                path = os.path.join(draw_dirs(out, d)[1], f"seed{s}", f"{run_name(run, x)}_report.json")
                if os.path.exists(path):
                    found[(d, s, x)] = json.load(open(path))
    return found


def gain(report, key="all"):
    """A run's gain: best vs best ("all"), "hard_minus_easy", or both models at one T ("T0.7")."""
    b = report["bootstrap"]
    if key == "all":
        return b["best_vs_best"]["all"]["gain"]
    if key.startswith("T"):
        return next(g["gain"] for g in b["at_temperature"] if f"T{g['temperature']:g}" == key)
    return b[key]["gain"]


def pooled(reports, key="all", resamples=2000, seed=0):
    """The mean gain over runs {(draw, seed, ssd_seed): report} and its 95 % interval by a
    hierarchical bootstrap: draws are resampled, then base seeds within each draw, then SSD seeds
    within each base, and each run's gain is replaced by one of its own problem-bootstrap
    replicates (one replicate index per draw: its runs share their test problems). The interval
    thus carries every source of noise: which benchmark, which base model, which SSD samples,
    which test problems. Returns (mean, low, high)."""
    rng = np.random.default_rng(seed)
    tree = {}   # draw -> base seed -> [replicates of each SSD seed's run]
    for (d, s, _), r in reports.items():
        tree.setdefault(d, {}).setdefault(s, []).append(np.asarray(r["bootstrap"]["replicates"][key]))
    n_rep = len(next(iter(reports.values()))["bootstrap"]["replicates"][key])
    means = []
    for _ in range(resamples):
        leaves = []
        for d in rng.choice(list(tree), len(tree)):
            j, bases = rng.integers(n_rep), list(tree[d].values())
            for b in rng.integers(len(bases), size=len(bases)):
                leaves += [bases[b][x][j] for x in rng.integers(len(bases[b]), size=len(bases[b]))]
        means.append(np.mean(leaves))
    low, high = np.percentile(means, [2.5, 97.5])
    return float(np.mean([gain(r, key) for r in reports.values()])), float(low), float(high)


def pooled_difference(first, second, key="all"):
    """pooled() of first's gain minus second's over the runs both have ({key: report} each):
    the same base, SSD seed and test problems, so the difference is paired, replicate by replicate.
    Returns (mean, low, high, runs), or None when they share no run."""
    both = [k for k in first if k in second]   # first's order: a set's would change with the hash seed
    if not both:
        return None
    delta = {k: {"bootstrap": {"best_vs_best": {"all": {"gain": gain(first[k], key) - gain(second[k], key)}},
                               "replicates": {"all": np.subtract(first[k]["bootstrap"]["replicates"][key],
                                                                 second[k]["bootstrap"]["replicates"][key])}}}
             for k in both}
    return (*pooled(delta), len(both))


def ci(mean, low, high):
    """'+9.4 (+4.5 .. +15.9)' in points from fractions: the lab's tables leave out "95 % CI"."""
    return interval(mean, low, high, label="")


def variance_split(gains):
    """Standard deviations (same unit as the gains) of the three nested sources of spread, from
    {(draw, seed, ssd_seed): gain} with the same numbers of base and SSD seeds everywhere: the SSD
    stage (SSD seeds of one base), the base model (base seeds of one draw) and the draw. Each
    level's variance of means, less what the level below contributes to it (method of moments,
    floored at 0). A level with a single member has no spread to measure: None."""
    tree = {}
    for (d, s, _), g in gains.items():
        tree.setdefault(d, {}).setdefault(s, []).append(g)
    n_ssd = min(len(x) for b in tree.values() for x in b.values())
    n_base = min(len(b) for b in tree.values())
    v_ssd = [_variance(x) for b in tree.values() for x in b.values()]
    v_ssd = statistics.mean(v_ssd) if None not in v_ssd else None
    v_base = [_variance([statistics.mean(x) for x in b.values()]) for b in tree.values()]
    v_base = statistics.mean(v_base) if None not in v_base else None
    v_draw = _variance([statistics.mean([statistics.mean(x) for x in b.values()]) for b in tree.values()])
    if v_base is not None and v_ssd is not None:
        v_base = max(0.0, v_base - v_ssd / n_ssd)
    if v_draw is not None and v_base is not None:
        v_draw = max(0.0, v_draw - v_base / n_base - (v_ssd or 0.0) / (n_base * n_ssd))
    return {"draw": _sd(v_draw), "base": _sd(v_base), "ssd": _sd(v_ssd)}


def _variance(values):
    return statistics.variance(values) if len(values) > 1 else None


def _sd(variance):
    return None if variance is None else variance ** 0.5


def points(x):
    """A fraction in percentage points, one decimal ("-" for None)."""
    return "-" if x is None else f"{100 * x:.1f}"


def summarize(out, draws, seeds, ssd_seeds, runs=RUNS):
    """Write out/study.md: the pooled table per recipe, then every run."""
    found = {}
    for run in runs:
        reports = load_reports(out, draws, seeds, ssd_seeds, run)
        if reports:
            found[run] = reports
    if not found:
        raise SystemExit(f"error: no study has run in {out} for draws {','.join(map(str, draws))}, seeds "
                         f"{','.join(map(str, seeds))} (no RUN_report.json there): run `python lab/study.py` first")
    pooled_rows, run_rows = [], []
    for run, reports in found.items():
        m, lo, hi = pooled(reports)
        hm = pooled(reports, "hard_minus_easy")
        split = variance_split({k: gain(r) for k, r in reports.items()})
        by_draw = [statistics.mean(gain(r) for (d, _, _), r in reports.items() if d == dd) for dd in draws
                   if any(k[0] == dd for k in reports)]
        eval_sd = statistics.mean(float(np.std(r["bootstrap"]["replicates"]["all"])) for r in reports.values())
        bad = statistics.mean(r["ssd_data"]["share_no_valid_code"] for r in reports.values() if r.get("ssd_data"))
        pooled_rows.append([run, len(reports), ci(m, lo, hi),
                            " / ".join(f"{100 * g:+.1f}" for g in by_draw),
                            ci(*hm),
                            points(split["draw"]), points(split["base"]), points(split["ssd"]), points(eval_sd),
                            f"{100 * bad:.1f} %"])
        for (d, s, x), r in reports.items():
            base = max(r["sweeps"]["base"], key=lambda t: t["pass@1"])    # each model at its best T
            ssd = max(r["sweeps"]["SSD"], key=lambda t: t["pass@1"])
            g = r["bootstrap"]["best_vs_best"]["all"]
            run_rows.append([run, d, s, "-" if x is None else x,
                             f"{base['pass@1']:.3f} ({base['temperature']:g}) -> {ssd['pass@1']:.3f} ({ssd['temperature']:g})",
                             ci(g["gain"], g["low"], g["high"])])
    diff_rows = []
    for a, b in (("ssd", "paper"), ("ssd", "fixed_point"), ("paper", "fixed_point")):
        d = pooled_difference(found.get(a, {}), found.get(b, {}))
        if d:
            diff_rows.append([f"{a} - {b}", d[3], ci(*d[:3])])
    n_test = {len(next(iter(r.values()))["sweeps"]["base"][0]["per_problem"]) for r in found.values()}
    sizes = ", ".join(map(str, sorted(n_test)))
    parts = [f"best-vs-best pass@1 gain (SSD - base, percentage points) on the test split of each draw "
             f"({sizes} problems); draws {', '.join(map(str, draws))}",
             "Per recipe: mean over all runs with a hierarchical bootstrap 95 % interval (draws, base seeds, SSD "
             "seeds and test problems resampled); the mean gain of each draw; hard gain - easy gain; the spread "
             "split into standard deviations (pp) from the draw, the base seed, the SSD seed, and one run's "
             "evaluation noise (bootstrap SD over test problems)",
             markdown_table(["run", "runs", "mean gain (95 % CI)", "per draw", "hard - easy (95 % CI)", "SD draw",
                             "SD base", "SD SSD seed", "SD eval", "no valid code"], pooled_rows)]
    if diff_rows:
        parts += ["One recipe against another on the same runs (gain difference, pp, same hierarchical bootstrap)",
                  markdown_table(["recipes", "runs", "difference (95 % CI)"], diff_rows)]
    parts += ["Every run: base -> SSD pass@1 (each at its best T), gain with its paired-bootstrap 95 % interval",
              markdown_table(["run", "draw", "base seed", "SSD seed", "base -> SSD (best T)", "gain (95 % CI)"], run_rows)]
    text = "\n\n".join(parts)
    with open(os.path.join(out, "study.md"), "w") as f:
        f.write(text + "\n")
    print(text)


def run_base(args, extra, draw, seed, runs, ssd_seeds):
    """Every recipe and SSD seed on the base model of one draw and base seed. The first run that
    is not done already trains that base (or reuses a finished one); the others start from it."""
    data, home = draw_dirs(args.out, draw)
    out_dir = os.path.join(home, f"seed{seed}")
    first = True
    for run in runs:
        for x in ssd_seeds:
            name = run_name(run, x)
            report = os.path.join(out_dir, f"{name}_report.json")
            if os.path.exists(report) and not args.redo:
                print(f"{report} exists: skipped (--redo reruns it)", flush=True)
                continue
            cmd = [sys.executable, os.path.join(ROOT, "train.py"), f"--seed={seed}", f"--out_dir={out_dir}",
                   f"--run={name}", *RUNS[run], *extra]
            cmd += [] if first else ["--stage=ssd"]
            cmd += [] if x is None else [f"--ssd_seed={x}"]
            cmd += [] if draw == "test" else [f"--data_dir={data}"]
            run_command(cmd)
            first = False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2", help="base-model seeds")
    ap.add_argument("--ssd_seeds", default="", help="SSD seeds per base (default: one, equal to the base seed)")
    ap.add_argument("--data_seeds", default="test", help="benchmark draws: test (data/) and/or generator seeds")
    ap.add_argument("--only", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    ap.add_argument("--out", default="out")
    ap.add_argument("--summarize", action="store_true", help="do not train, only rebuild the table")
    ap.add_argument("--redo", action="store_true", help="rerun runs whose report already exists (default: skip them, "
                    "so an interrupted study picks up where it stopped)")
    args, extra = ap.parse_known_args(argv)   # anything else goes to train.py
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        ssd_seeds = [int(s) for s in args.ssd_seeds.split(",")] if args.ssd_seeds else [None]
        draws = [d if d == "test" else int(d) for d in args.data_seeds.split(",")]
    except ValueError:
        ap.error("--seeds, --ssd_seeds and --data_seeds take comma-separated integers (and `test` for --data_seeds)")
    if {1234, 7} & set(draws):
        ap.error("seed 1234 is the committed test split (say `test`) and 7 the development benchmark: not fresh draws")
    runs = args.only.split(",")
    if not set(runs) <= set(RUNS):
        ap.error(f"--only takes names from {', '.join(RUNS)}")
    if not args.summarize:
        from config import get_args   # train.py's own checks of the options passed on to it, before any run
        get_args(extra)
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            raise SystemExit(f"error: cannot make --out={args.out}: {e.strerror}")
    elif not os.path.isdir(args.out):
        raise SystemExit(f"error: no study has run in {args.out}: there is no such folder")
    if unwritable(os.path.join(args.out, "study.md")):   # before hours of training, not after
        ap.error(f"--out={args.out}: {unwritable(os.path.join(args.out, 'study.md'))}")
    if not args.summarize:
        for d in draws:
            make_draw(args.out, d)
            for s in seeds:
                run_base(args, extra, d, s, runs, ssd_seeds)
    summarize(args.out, draws, seeds, ssd_seeds, [r for r in RUNS if r in runs])


if __name__ == "__main__":
    run_main(main)
