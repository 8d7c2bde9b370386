"""The atlas's leads, confirmed or refuted on fresh benchmark draws: the protocol RESULTS.md
pre-registers ("Pre-registration: the atlas's leads on fresh draws", 2026-12-07).

    python lab/confirm.py                  # draws 61, 62, 63 x base seeds 0, 1 x SSD seeds 0, 1 (~2.5 h, 2 cores)
    python lab/confirm.py --summarize      # only rebuild out/confirm/confirm.md from the reports there
    python lab/confirm.py --draws=61 --seeds=0 --ssd_seeds=0   # one cell (~25 min)

Each draw is a new benchmark (generator seed D, the atlas's sizes: 4,000 SSD prompts whose first
2,000 the reference uses) in out/confirm/drawD. On every draw x base seed x SSD seed it runs the
reference (our recipe: 2,000 prompts, one sample each, one round, frozen teacher) and the
variants of it that the hypotheses need (lab/atlas.py's QUESTIONS, by the same names). Every
variant is compared with the reference of the same base and SSD seed, paired, pooled over draws,
bases and SSD seeds with study.py's hierarchical bootstrap: first with both models at T 0.7 (the
primary endpoint: a greedy flip at T 0 cannot carry it), then best vs best. A run whose report
exists is skipped, so an interrupted run picks up where it stopped.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)                       # the lesson's scripts live one folder up

import atlas                                   # noqa: E402  (lab/, beside this file)
import study                                   # noqa: E402
from data import run_main, unwritable          # noqa: E402
from tables import markdown_table              # noqa: E402

PRIMARY = "T0.7"                               # both models at the demo's usual best temperature
HYPOTHESES = [   # (what is predicted, the variant compared with the reference ssd_sX, the predicted sign)
    ("H1 a third round beats one: > 0", "round3", +1),
    ("H2 two samples per prompt beat one, same prompts: > 0", "n2", +1),
    ("H3 two samples per prompt beat one, same total: > 0", "n2_same_total", +1),
    ("H4 4,000 prompts beat 2,000: > 0", "prompts4000", +1),
    ("H5 an online teacher does worse than a frozen one: < 0", "online", -1),
]
NEGLIGIBLE = 0.01                              # the decision rule's "no effect worth the name": within +-1 pp
VARIANTS = {name: flags for q in atlas.QUESTIONS.values() for name, flags in q}   # round2: round3's teacher
RUNS = ["round2", "round3", "n2", "n2_same_total", "prompts4000", "online"]


def run_draw(out, draw, seeds, ssd_seeds, extra):
    home = os.path.join(out, f"draw{draw}")
    flags = atlas.common(home, draw) + extra
    for x in ssd_seeds:
        for s in seeds:
            base = atlas.ensure_base(home, s, flags, x)    # the base, and the reference ssd_sX on it
            for run in RUNS:
                name, run_flags = atlas.named(run, VARIANTS[run], x)
                if os.path.exists(os.path.join(base, f"{name}_report.json")):
                    print(f"{base}/{name} exists: skipped", flush=True)
                    continue
                atlas.train([f"--seed={s}", f"--out_dir={base}", "--stage=ssd", f"--ssd_seed={x}", f"--run={name}",
                             *flags, *run_flags])


def load(out, draws, seeds, ssd_seeds, run):
    """{(draw, base seed, SSD seed): report} of one run's reports that exist."""
    def name(ssd_seed):
        return f"ssd_s{ssd_seed}" if run == "ssd" else atlas.named(run, [], ssd_seed)[0]
    found = {}
    for d in draws:
        for k, r in atlas.load_runs(os.path.join(out, f"draw{d}"), seeds, ssd_seeds, name).items():
            found[(d, *k[1:])] = r
    return found


def spread_row(what, gains):
    """A row of the spread table: study.variance_split's SDs of {(draw, base, SSD seed): gain}, in pp."""
    split = study.variance_split(gains)
    return [what, *("-" if split[level] is None else f"{100 * split[level]:.1f}" for level in ("draw", "base", "ssd"))]


def verdict(low, high, sign):
    """The pre-registered decision rule on a 95 % interval (fractions): confirmed when it lies wholly
    on the predicted side of 0, refuted when wholly on the other side or wholly within +-1 pp, left
    open otherwise. The rule did not say which wins when an interval is on the predicted side and
    within +-1 pp at once: we say both."""
    on_side = low > 0 if sign > 0 else high < 0
    against = high < 0 if sign > 0 else low > 0
    small = -NEGLIGIBLE <= low and high <= NEGLIGIBLE
    if on_side:
        return "confirmed, but under 1 pp" if small else "confirmed"
    return "refuted" if against or small else "left open"


def summarize(out, draws, seeds, ssd_seeds):
    ref = load(out, draws, seeds, ssd_seeds, "ssd")
    if not ref:
        raise SystemExit(f"error: no reference runs in {out} (run `python lab/confirm.py` first)")
    rows, spreads, each = [], [], {k: [] for k in sorted(ref)}
    for claim, run, sign in HYPOTHESES:
        reps = load(out, draws, seeds, ssd_seeds, run)
        both = sorted(k for k in reps if k in ref)                # the runs that pair with a reference
        cells, verdicts = [claim, len(both)], []
        for key in (PRIMARY, "all"):
            d = study.pooled_difference(reps, ref, key)
            cells.append("-" if d is None else study.ci(*d[:3]))
            verdicts.append("-" if d is None else verdict(d[1], d[2], sign))
        rows.append(cells + verdicts)
        for k in each:
            each[k].append(f"{100 * (study.gain(reps[k], PRIMARY) - study.gain(ref[k], PRIMARY)):+.1f} / "
                           f"{100 * (study.gain(reps[k]) - study.gain(ref[k])):+.1f}" if k in reps else "-")
        if both:
            spreads.append(spread_row(run, {k: study.gain(reps[k], PRIMARY) - study.gain(ref[k], PRIMARY) for k in both}))
    hard = study.pooled(ref, "hard_minus_easy")
    reference = [["ssd (reference): gain over the base", len(ref), study.ci(*study.pooled(ref, PRIMARY)),
                  study.ci(*study.pooled(ref)), "-", "-"],
                 ["H6 hard gain - easy gain, reference: > 0", len(ref), "-", study.ci(*hard),
                  verdict(hard[1], hard[2], +1), "-"]]
    spreads.append(spread_row("ssd (reference): gain", {k: study.gain(r, PRIMARY) for k, r in ref.items()}))
    text = "\n\n".join([
        f"The atlas's leads on fresh draws {', '.join(map(str, draws))} x base seeds {seeds} x SSD seeds {ssd_seeds}: "
        "each variant minus the reference on the same base and SSD seed, pp, pooled with a hierarchical bootstrap "
        "(95 % CI); first both models at T 0.7 (primary), then best vs best. The verdict is the pre-registered "
        "rule's on the primary endpoint (H6: best vs best, the only one it has); best vs best's is support only",
        markdown_table(["hypothesis", "runs", "difference at T 0.7", "difference best vs best", "verdict",
                        "best vs best would say"], rows + reference),
        "Where the spread comes from, at T 0.7 (SD in pp of each run's difference, or of the reference's gain; "
        "method of moments, '0.0' where a level adds nothing beyond the one below it)",
        markdown_table(["what", "draw", "base seed", "SSD seed"], spreads),
        "Every run (draw, base seed, SSD seed): the reference's gain over the base, then each variant minus the "
        "reference; pp, at T 0.7 / best vs best",
        markdown_table(["draw", "base seed", "SSD seed", "reference", *(run for _, run, _ in HYPOTHESES)],
                       [[*k, f"{100 * study.gain(ref[k], PRIMARY):+.1f} / {100 * study.gain(ref[k]):+.1f}", *cells]
                        for k, cells in each.items()])])
    with open(os.path.join(out, "confirm.md"), "w") as f:
        f.write(text + "\n")
    print(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", default="61,62,63", help="benchmark generator seeds never used before")
    ap.add_argument("--seeds", default="0,1", help="base seeds")
    ap.add_argument("--ssd_seeds", default="0,1", help="SSD seeds of each base")
    ap.add_argument("--out", default="out/confirm")
    ap.add_argument("--summarize", action="store_true", help="do not train, only rebuild the tables")
    args, extra = ap.parse_known_args(argv)   # anything else goes to train.py (the protocol gives none)
    try:
        draws, seeds, ssd_seeds = ([int(v) for v in text.split(",")] for text in (args.draws, args.seeds, args.ssd_seeds))
    except ValueError:
        ap.error("--draws, --seeds and --ssd_seeds take comma-separated integers")
    if {1234, 7, 31, 32, 33} & set(draws):
        ap.error("seeds 1234, 7, 31, 32 and 33 are the test split, the development benchmark and the first fresh draws")
    if not args.summarize:
        from config import get_args   # train.py's own checks of the options passed on to it, before any run
        get_args(extra)
        os.makedirs(args.out, exist_ok=True)
    if unwritable(os.path.join(args.out, "confirm.md")):
        ap.error(f"--out={args.out}: {unwritable(os.path.join(args.out, 'confirm.md'))}")
    if not args.summarize:
        for d in draws:
            run_draw(args.out, d, seeds, ssd_seeds, extra)
    summarize(args.out, draws, seeds, ssd_seeds)


if __name__ == "__main__":
    run_main(main)
