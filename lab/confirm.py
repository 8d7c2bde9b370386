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
HYPOTHESES = [   # (what is predicted, the variant compared with the reference ssd_sX)
    ("a third round beats one: > 0", "round3"),
    ("two samples per prompt beat one, same prompts: > 0", "n2"),
    ("two samples per prompt beat one, same total: > 0", "n2_same_total"),
    ("4,000 prompts beat 2,000: > 0", "prompts4000"),
    ("an online teacher does worse than a frozen one: < 0", "online"),
]
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
    found = {}
    for d in draws:
        found.update({(d, *k[1:]): r for k, r in
                      atlas.load_runs(os.path.join(out, f"draw{d}"), seeds, ssd_seeds,
                                      lambda x: f"ssd_s{x}" if run == "ssd" else atlas.named(run, [], x)[0]).items()})
    return found


def summarize(out, draws, seeds, ssd_seeds):
    ref = load(out, draws, seeds, ssd_seeds, "ssd")
    if not ref:
        raise SystemExit(f"error: no reference runs in {out} (run `python lab/confirm.py` first)")
    rows, runs = [], []
    for claim, run in HYPOTHESES:
        reps = load(out, draws, seeds, ssd_seeds, run)
        cells = [claim, len(reps)]
        for key in (PRIMARY, "all"):
            d = study.pooled_difference(reps, ref, key)
            cells.append("-" if d is None else study.ci(*d[:3]))
        rows.append(cells)
        for k in sorted(reps):
            runs.append([run, *k, f"{100 * (study.gain(reps[k], PRIMARY) - study.gain(ref[k], PRIMARY)):+.1f}"
                         if k in ref else "-", f"{100 * (study.gain(reps[k]) - study.gain(ref[k])):+.1f}" if k in ref else "-"])
    reference = [["ssd (reference): gain over the base", len(ref), study.ci(*study.pooled(ref, PRIMARY)),
                  study.ci(*study.pooled(ref))],
                 ["hard gain - easy gain, reference", len(ref), "-", study.ci(*study.pooled(ref, "hard_minus_easy"))]]
    spread = study.variance_split({k: study.gain(r, PRIMARY) for k, r in ref.items()})
    ppt = lambda v: "-" if v is None else f"{100 * v:.1f}"
    text = "\n\n".join([
        f"The atlas's leads on fresh draws {', '.join(map(str, draws))} x base seeds {seeds} x SSD seeds {ssd_seeds}: "
        "each variant minus the reference on the same base and SSD seed, pp, pooled with a hierarchical bootstrap "
        "(95 % CI); first both models at T 0.7 (primary), then best vs best",
        markdown_table(["hypothesis", "runs", "difference at T 0.7", "difference best vs best"], rows + reference),
        f"The reference's gain at T 0.7, spread (SD, pp): draw {ppt(spread['draw'])}, base {ppt(spread['base'])}, "
        f"SSD seed {ppt(spread['ssd'])}",
        "Every run: variant minus reference, pp",
        markdown_table(["run", "draw", "base seed", "SSD seed", "at T 0.7", "best vs best"], runs)])
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
