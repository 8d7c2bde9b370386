"""The SSD atlas: the paper's T_train x T_eval grid on our model, beside the toy's.

    python lab/atlas.py --grid               # one base, 12 SSD models, 8 eval temperatures (60 min on 2 cores)
    python lab/atlas.py --grid --summarize   # only redraw out/atlas/grid.md from the reports there
    python lab/atlas.py --toy                # the toy's analytic grid alone (instant)
    python lab/atlas.py --questions=rounds,samples,epochs,data,online   # the open questions (60 min: 2 bases, 28 runs)
    python lab/atlas.py --questions=rounds,samples,epochs --ssd_seeds=1  # the same on a second SSD seed (41 min)

Everything runs on the development benchmark (generator seed 7, `--data_seed`), with a 4,000-prompt
SSD split whose first 2,000 prompts are the usual ones (each split has its own random stream): the
atlas asks questions whose answers could change the recipe, and the recipe is chosen on that
benchmark, never on the test split. Base models: out/atlas/seedS (pretrained on first use, together
with the reference run ssd_s0 = our recipe on 2,000 prompts, SSD seed 0).

The grid: one base model (seed 0, copied to out/atlas/grid); T_train in 0.6, 0.8, 1.0, 1.2, 1.6, 2.0,
each once without truncation and once with our recipe's truncation (top-k 20, top-p 0.8, min-p
0.3); every SSD model, and the base, evaluated at T_eval 0.2, 0.4, ..., 1.6 (`train.py --stage=ssd`,
the base's sweep cached). It prints pass@1 as heatmaps (T_train rows, T_eval columns, the best cell
marked *), then every cell against T_eff = T_train x T_eval with a quadratic fit and its R² (the
paper: R² 0.75, a peak near T_eff 1.2 without truncation), the cells of equal T_eff compared with
each other and with sampling noise, each model's gain with its interval, and the toy's exact grid
in the same layout (fsm.py's analytic student: SFT on infinitely many samples, top-p 0.8 at eval).

The questions the paper left open, each as variants of our recipe on the base models out/atlas/seedS
(`--seeds`; `--ssd_seeds=0,1` adds SSD seeds, runs NAME_s1), every gain with its interval pooled
over the runs, and the difference to the reference run on the same base and SSD seed paired:
  samples   2 or 4 samples per prompt, at the same prompts and at the same total (fewer prompts)
  rounds    SSD from the SSD model, twice (does it keep gaining, plateau or collapse?)
  data      250 .. 4,000 SSD prompts (the reference has 2,000)
  epochs    2, 4, 8 epochs of fine-tuning (the reference: 1)
  online    every batch sampled from the model being trained instead of the frozen base
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)                       # the lesson's scripts live one folder up

import study                                   # noqa: E402  (lab/, beside this file)
from data import run_main, unwritable          # noqa: E402
from tables import interval, line_chart, markdown_table   # noqa: E402

T_TRAIN = (0.6, 0.8, 1.0, 1.2, 1.6, 2.0)
T_EVAL = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)
TRUNCATION = {"none": ["--ssd_top_k=0", "--ssd_top_p=1", "--ssd_min_p=0"], "ours": []}   # ours = the defaults
SHADES = " .:ox%#@"   # no - or +: they would read as signs
FIXED_T = 0.7   # the questions' second view: the gain with both models at the demo's usual best temperature
SIZES = {"pretrain": 6000, "val": 300, "ssd": 4000, "test": 900}   # the committed split's, with 4,000 SSD prompts
QUESTIONS = {   # question: [(run name, train.py flags on top of our recipe)]; ssd_s0 is the reference run
    "samples": [("n2", ["--ssd_n=2"]), ("n4", ["--ssd_n=4"]), ("n2_same_total", ["--ssd_n=2", "--ssd_prompts=1000"]),
                ("n4_same_total", ["--ssd_n=4", "--ssd_prompts=500"])],
    "rounds": [("round2", ["--ssd_from=ssd_s0"]), ("round3", ["--ssd_from=round2"])],
    "data": [(f"prompts{n}", [f"--ssd_prompts={n}"]) for n in (250, 500, 1000, 4000)],
    "epochs": [(f"epochs{e}", [f"--ssd_epochs={e}"]) for e in (2, 4, 8)],
    "online": [("online", ["--ssd_online"])],
}


def heatmap(title, rows, cols, cell):
    """Lines: a table of cell(r, c) (a number in 0..1, or None) with a shade character per cell,
    darker = higher relative to the table's range, and * at the table's best cell."""
    filled = [(cell(r, c), r, c) for r in rows for c in cols if cell(r, c) is not None]
    lo, hi = min(v for v, _, _ in filled), max(v for v, _, _ in filled)
    best = max(filled)

    def shade(v):
        return SHADES[round((v - lo) / ((hi - lo) or 1) * (len(SHADES) - 1))]
    lines = [title, "T_train \\ T_eval " + "".join(f"{c:>8g} " for c in cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = cell(r, c)
            cells.append("       -" if v is None else f"  {shade(v)}{v:.3f}{'*' if (v, r, c) == best else ' '}")
        lines.append(f"{r!s:>16} " + "".join(cells))
    return lines


def quadratic_fit(x, y):
    """(coefficients c2, c1, c0 of y = c2 x² + c1 x + c0, R², the x of the peak or None)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    coef = np.polyfit(x, y, 2)
    resid = y - np.polyval(coef, x)
    r2 = 1 - (resid ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return coef, float(r2), (float(-coef[1] / (2 * coef[0])) if coef[0] < 0 else None)


def t_eff_pairs(cells):
    """Every pair of cells (keys (T_train, T_eval)) whose products T_eff are equal."""
    groups = {}
    for c in cells:
        groups.setdefault(round(c[0] * c[1], 6), []).append(c)
    return [(a, b) for cs in groups.values() for i, a in enumerate(cs) for b in cs[i + 1:]]


def same_t_eff(cells):
    """A check of the T_eff hypothesis that needs no curve: (number of pairs of cells that share
    a T_eff, their mean |difference|, the mean |difference| of all pairs of cells), from cells
    {(T_train, T_eval): pass@1}. A quadratic fit's R² mixes "organised by T_eff" with "shaped like
    a parabola"; if T_eff is all that matters, cells with equal products differ only by noise."""
    same = [abs(cells[a] - cells[b]) for a, b in t_eff_pairs(cells)]
    values = list(cells.values())
    every = [abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]]
    return len(same), (float(np.mean(same)) if same else None), float(np.mean(every))


def noise_floor(cells, per_problem):
    """The mean |difference| that sampling noise alone would give the pairs of cells with equal
    T_eff: for each pair, the standard error of the mean of per-problem differences (the same test
    problems: paired), times sqrt(2/pi), the mean |x| of a normal with that deviation.
    per_problem: {(T_train, T_eval): per-problem pass rates, in one problem order}."""
    ses = [np.std(per_problem[a] - per_problem[b], ddof=1) / np.sqrt(len(per_problem[a])) for a, b in t_eff_pairs(cells)]
    return float(np.sqrt(2 / np.pi) * np.mean(ses)) if ses else None


def t_eff_lines(cells, per_problem=None):
    """Lines: the quadratic fit against T_eff (the paper's test), same_t_eff's check and, with
    per-sample results, the noise floor of that check."""
    (c2, c1, c0), r2, peak = quadratic_fit([tt * te for tt, te in cells], list(cells.values()))
    lines = [f"  against T_eff = T_train x T_eval: pass@1 = {c2:.3f} T_eff² {c1:+.3f} T_eff {c0:+.3f}, R² {r2:.2f}"
             + (f", peak at T_eff {peak:.2f}" if peak else ", no peak (not concave)")]
    n, same, every = same_t_eff(cells)
    if not n:
        return lines + ["  no two cells share a T_eff"]
    floor = noise_floor(cells, per_problem) if per_problem else None
    noise = f" (noise alone: {100 * floor:.1f} pp)" if floor is not None else ""
    return lines + [f"  the {n} pairs of cells with equal T_eff differ by {100 * same:.1f} pp on average{noise}; "
                    f"any two cells by {100 * every:.1f} pp"]


def per_problem_rates(path):
    """{T_eval: per-problem pass rates in sorted task_id order} from a RUN_results.jsonl."""
    rates = {}
    for line in open(path):
        r = json.loads(line)
        rates.setdefault(r["temperature"], {}).setdefault(r["task_id"], []).append(r["passed"])
    return {t: np.array([np.mean(v[k]) for k in sorted(v)]) for t, v in rates.items()}


def toy_grid(truncation):
    """{(T_train, T_eval): exact success} of fsm.py's analytic student, evaluated with top-p 0.8."""
    import fsm
    probs = fsm.teacher()
    k, p = (20, 0.8) if truncation == "ours" else (0, 1.0)   # the toy has 16 tokens: top-k 20 keeps all
    return {(tt, te): fsm.success(fsm.decode(fsm.analytic_student(probs, tt, k, p), te, top_p=0.8))
            for tt in T_TRAIN for te in T_EVAL}


def common(out, data_seed):
    """train.py flags shared by every atlas run: the development benchmark (written on first use)
    and the reference's 2,000 SSD prompts (a --ssd_prompts later on the command line wins)."""
    from data import benchmark
    data = os.path.join(out, "data")
    benchmark.ensure(data, SIZES, seed=data_seed)
    return [f"--data_dir={data}", "--ssd_prompts=2000"]


def train(args):
    study.run_command([sys.executable, os.path.join(ROOT, "train.py"), *args])   # a failed run ends the atlas with one line


def ensure_base(out, seed, flags, ssd_seed=0):
    """out/seedS/base.pt, pretrained with the reference run ssd_sX (our recipe, SSD seed X) if missing."""
    home = os.path.join(out, f"seed{seed}")
    if not os.path.exists(os.path.join(home, f"ssd_s{ssd_seed}_report.json")):
        train([f"--seed={seed}", f"--out_dir={home}", f"--run=ssd_s{ssd_seed}", f"--ssd_seed={ssd_seed}", *flags,
               *(["--stage=ssd"] if os.path.exists(os.path.join(home, "base.pt")) else [])])
    return home


def named(run, flags, ssd_seed):
    """A question's run for SSD seed X: seed 0 keeps the plain name, seed X > 0 gets _sX (and a
    later round starts from the same seed's earlier round)."""
    if ssd_seed == 0:
        return run, flags
    tail = f"_s{ssd_seed}"
    renamed = []
    for f in flags:
        if f == "--ssd_from=ssd_s0":                   # a second round starts from this seed's reference
            f = f"--ssd_from=ssd{tail}"
        elif f.startswith("--ssd_from="):              # a later round from this seed's round before
            f += tail
        renamed.append(f)
    return run + tail, renamed


def run_grid(out, flags):
    grid = os.path.join(out, "grid")
    if not os.path.exists(os.path.join(grid, "base.pt")):   # the seed-0 base, with a sweep of its own
        os.makedirs(grid, exist_ok=True)
        shutil.copy(os.path.join(ensure_base(out, 0, flags), "base.pt"), os.path.join(grid, "base.pt"))
    for trunc, trunc_flags in TRUNCATION.items():
        for tt in T_TRAIN:
            name = f"grid_T{tt:g}_{trunc}"
            if os.path.exists(os.path.join(grid, f"{name}_report.json")):
                print(f"{name} exists: skipped", flush=True)
                continue
            train(["--seed=0", f"--out_dir={grid}", "--stage=ssd", f"--eval_temperatures={','.join(map(str, T_EVAL))}",
                   f"--run={name}", f"--ssd_temperature={tt}", *trunc_flags, *flags])


def ssd_pass(report, t_eval):
    """The SSD model's pass@1 at T_eval in a grid run's report, or None where it was not evaluated."""
    return next((s["pass@1"] for s in report["sweeps"]["SSD"] if s["temperature"] == t_eval), None)


def summarize_grid(out):
    lines, reports = [], {}
    for trunc in TRUNCATION:
        for tt in T_TRAIN:
            path = os.path.join(out, "grid", f"grid_T{tt:g}_{trunc}_report.json")
            if os.path.exists(path):
                reports[(trunc, tt)] = json.load(open(path))
    if not reports:
        raise SystemExit(f"error: no grid reports in {out} (run `python lab/atlas.py --grid` first)")
    any_report = next(iter(reports.values()))
    base = {r["temperature"]: r["pass@1"] for r in any_report["sweeps"]["base"]}
    for trunc in TRUNCATION:
        cells = {}                                     # (T_train, T_eval): the SSD model's pass@1
        for tt in T_TRAIN:
            for te in T_EVAL:
                v = ssd_pass(reports[(trunc, tt)], te) if (trunc, tt) in reports else None
                if v is not None:
                    cells[(tt, te)] = v
        table = {**{("base", te): v for te, v in base.items()}, **cells}
        lines += heatmap(f"\npass@1, SSD {'without truncation' if trunc == 'none' else 'with our truncation'} "
                         f"(row base: the base model)", ["base", *T_TRAIN], T_EVAL, lambda r, c: table.get((r, c)))
        pts = [(tt * te, v) for (tt, te), v in cells.items()]
        per_problem = {}
        for tt in T_TRAIN:
            path = os.path.join(out, "grid", f"grid_T{tt:g}_{trunc}_results.jsonl")
            if os.path.exists(path):
                per_problem.update({(tt, te): v for te, v in per_problem_rates(path).items()})
        if len(pts) >= 4:
            lines += t_eff_lines(cells, per_problem if set(cells) <= set(per_problem) else None)
            lines += ["  " + l for l in line_chart({"cells": sorted(pts)}, height=8, xlabel="T_eff", join=False)]
        best = max(((s["pass@1"], tt, s["temperature"]) for (t, tt), r in reports.items() if t == trunc
                    for s in r["sweeps"]["SSD"]), default=None)
        if best:
            ci = reports[(trunc, best[1])]["bootstrap"]["best_vs_best"]["all"]
            lines.append(f"  best cell T_train {best[1]:g}, T_eval {best[2]:g}: pass@1 {best[0]:.3f}; that model's "
                         f"best-vs-best gain over the base {interval(ci['gain'], ci['low'], ci['high'], ' pp', label='')}")
        gains = [f"{tt:g}: {study.ci(*(reports[(trunc, tt)]['bootstrap']['best_vs_best']['all'][k] for k in ('gain', 'low', 'high')))}"
                 for tt in T_TRAIN if (trunc, tt) in reports]
        lines.append("  each SSD model's best-vs-best gain over the base, pp (95 % CI), by T_train: " + "; ".join(gains))
        above = sum(v > max(base.values()) for v in cells.values())
        lines.append(f"  cells above the base's best pass@1 ({max(base.values()):.3f}): {above} of {len(cells)}")
    return lines


def toy_lines():
    lines = []
    for trunc in TRUNCATION:
        g = toy_grid(trunc)
        lines += heatmap(f"\nthe toy (fsm.py, exact), SSD {'without truncation' if trunc == 'none' else 'with top-p 0.8'}"
                         f", evaluated with top-p 0.8", list(T_TRAIN), T_EVAL, lambda r, c: g[(r, c)])
        lines += t_eff_lines(g)
    return lines


def run_questions(out, names, seeds, flags, ssd_seeds=(0,)):
    for x in ssd_seeds:   # one SSD seed at a time, and within it a question at a time over all bases:
        homes = {s: ensure_base(out, s, flags, x) for s in seeds}   # each done is a finished answer
        for q in names:
            for s, home in homes.items():
                for run, q_flags in (named(r, f, x) for r, f in QUESTIONS[q]):
                    if os.path.exists(os.path.join(home, f"{run}_report.json")):
                        print(f"{home}/{run} exists: skipped", flush=True)
                        continue
                    train([f"--seed={s}", f"--out_dir={home}", "--stage=ssd", f"--ssd_seed={x}", f"--run={run}",
                           *flags, *q_flags])


def load_runs(out, seeds, ssd_seeds, run_of):
    """{("dev", base seed, SSD seed): report} of the runs named run_of(SSD seed) that exist."""
    found = {}
    for s in seeds:
        for x in ssd_seeds:
            path = os.path.join(out, f"seed{s}", f"{run_of(x)}_report.json")
            if os.path.exists(path):
                found[("dev", s, x)] = json.load(open(path))
    return found


def each_gain(reports):
    """Every run's best-vs-best gain, pp, in the order base seed, then SSD seed."""
    return " / ".join(f"{100 * study.gain(reports[k]):+.1f}" for k in sorted(reports))


def each_gain_at_fixed_t(reports):
    """Every run's gain with both models at FIXED_T ("?" where that T was not evaluated)."""
    gains = []
    for k in sorted(reports):
        at = [g for g in reports[k]["bootstrap"].get("at_temperature", []) if g["temperature"] == FIXED_T]
        gains.append(f"{100 * at[0]['gain']:+.1f}" if at else "?")
    return " / ".join(gains)


def summarize_questions(out, names, seeds, ssd_seeds=(0,)):
    """Per variant: the gain over the base pooled over base (and SSD) seeds, and the paired
    difference to the one-sample, one-round, 2,000-prompt, 1-epoch recipe (ssd_sX) on the same
    bases and SSD seeds."""
    if not os.path.isdir(out):
        raise SystemExit(f"error: no folder {out} (run `python lab/atlas.py --questions=...` first)")
    ref = load_runs(out, seeds, ssd_seeds, lambda x: f"ssd_s{x}")
    lines, found = [], bool(ref)
    for q in names:
        rows = [["ssd (reference)", len(ref), study.ci(*study.pooled(ref)), "-", each_gain(ref), each_gain_at_fixed_t(ref)]
                ] if ref else []
        for run, flags in QUESTIONS[q]:
            reps = load_runs(out, seeds, ssd_seeds, lambda x: named(run, flags, x)[0])
            found = found or bool(reps)
            if reps:
                d = study.pooled_difference(reps, ref)
                rows.append([run, len(reps), study.ci(*study.pooled(reps)), "-" if d is None else study.ci(*d[:3]),
                             each_gain(reps), each_gain_at_fixed_t(reps)])
        lines += [f"\n{q}: best-vs-best gain over the base (pp, 95 % CI pooled over base seeds {seeds}"
                  + (f" and SSD seeds {list(ssd_seeds)}" if len(ssd_seeds) > 1 else "")
                  + "; each run: in the order base seed, then SSD seed)\n",
                  markdown_table(["run", "runs", "gain", "minus the reference (paired)", "each run",
                                  f"each run, both at T {FIXED_T:g}"], rows)]
    if not found:
        raise SystemExit(f"error: no reports of these questions in {out} (run `python lab/atlas.py --questions=...` first)")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", action="store_true", help="the T_train x T_eval grid on our model")
    ap.add_argument("--toy", action="store_true", help="only the toy's grid")
    ap.add_argument("--questions", default="", help=f"comma-separated subset of {','.join(QUESTIONS)}")
    ap.add_argument("--seeds", default="0,1", help="--questions: the base seeds (out/atlas/seedS)")
    ap.add_argument("--ssd_seeds", default="0", help="--questions: the SSD seeds of each base")
    ap.add_argument("--data_seed", type=int, default=7, help="the benchmark generator's seed (7: the development one)")
    ap.add_argument("--out", default="out/atlas")
    ap.add_argument("--summarize", action="store_true", help="do not train, only redraw from the reports")
    args, extra = ap.parse_known_args(argv)   # anything else goes to train.py
    questions = [q for q in args.questions.split(",") if q]
    if not set(questions) <= set(QUESTIONS):
        ap.error(f"--questions takes names from {','.join(QUESTIONS)}")
    if not (args.grid or args.toy or questions):
        ap.error("say what to run: --grid, --toy or --questions=...")
    if args.data_seed == 1234:
        ap.error("--data_seed=1234 is the test split's generator: the atlas is not run on it")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        ssd_seeds = [int(s) for s in args.ssd_seeds.split(",")]
    except ValueError:
        ap.error("--seeds and --ssd_seeds take comma-separated integers")
    written = "atlas.md" if args.grid and questions else "grid.md" if args.grid else "questions.md"
    if (args.grid or questions) and not args.summarize:
        from config import get_args   # train.py's own checks of the options passed on to it, before any run
        get_args(extra)
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            raise SystemExit(f"error: cannot make --out={args.out}: {e.strerror}")
    if (args.grid or questions) and os.path.isdir(args.out) and unwritable(os.path.join(args.out, written)):
        ap.error(f"--out={args.out}: {unwritable(os.path.join(args.out, written))}")   # before the runs, not after
    flags = common(args.out, args.data_seed) + extra if (args.grid or questions) and not args.summarize else []
    lines = []
    if args.grid:
        if not args.summarize:
            run_grid(args.out, flags)
        lines += summarize_grid(args.out)
    if args.grid or args.toy:
        lines += toy_lines()
    if questions:
        if not args.summarize:
            run_questions(args.out, questions, seeds, flags, ssd_seeds)
        lines += summarize_questions(args.out, questions, seeds, ssd_seeds)
    text = "\n".join(lines)
    print(text)
    if args.grid or questions:
        with open(os.path.join(args.out, written), "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    run_main(main)
