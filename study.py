"""The seed study and the controls behind the headline of README.md (RESULTS.md has them all).

    python study.py                      # seeds 0,1,2: the demo, the paper's recipe, 4 controls (~45 min, 2 cores)
    python study.py --seeds=0 --only=ssd # just the demo for seed 0
    python study.py --summarize          # only rebuild out/study.md from the reports already there
    python study.py --out=out/bugs60 --data_dir=out/bugs60_data   # any other option goes to train.py

For each seed it runs `python train.py --seed=S --out_dir=out/seedS` (pretrain, SSD, evaluate),
then the paper's own recipe and the controls, which reuse that seed's base model and its evaluation:
  paper         T_train 1.6, top-k 20, top-p 0.8, without the demo's min-p 0.3
  fixed_point   T_train 1.0, no truncation      the paper's fixed point: expect no gain
  trunc_only    T_train 1.0, top-k 20, top-p 0.8
  temp_only     T_train 1.6, no truncation
  stress        T_train 2.0, no truncation      the paper's stress test (much of it is gibberish)
Then it writes out/study.md: best-vs-best pass@1 per seed, the mean and the spread, by difficulty.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from evaluate import markdown_table

RUNS = {  # name: SSD settings (the demo's default recipe: T 1.6, top-k 20, top-p 0.8, min-p 0.3)
    "ssd": [],
    "paper": ["--ssd_min_p=0"],
    "fixed_point": ["--ssd_temperature=1.0", "--ssd_top_k=0", "--ssd_top_p=1.0", "--ssd_min_p=0"],
    "trunc_only": ["--ssd_temperature=1.0", "--ssd_top_k=20", "--ssd_top_p=0.8", "--ssd_min_p=0"],
    "temp_only": ["--ssd_temperature=1.6", "--ssd_top_k=0", "--ssd_top_p=1.0", "--ssd_min_p=0"],
    "stress": ["--ssd_temperature=2.0", "--ssd_top_k=0", "--ssd_top_p=1.0", "--ssd_min_p=0"],
}


def summarize(out, seeds):
    rows = []
    for run in RUNS:
        gains, cells, hard, easy, bad = [], [], [], [], []
        for s in seeds:
            path = os.path.join(out, f"seed{s}", f"{run}_report.json")
            if not os.path.exists(path):
                cells.append("-")
                continue
            r = json.load(open(path))
            base, ssd = (max(r["sweeps"][n], key=lambda x: x["pass@1"]) for n in ("base", "SSD"))
            gains.append(100 * (ssd["pass@1"] - base["pass@1"]))
            hard.append(100 * (ssd["by_difficulty"]["hard"]["pass@1"] - base["by_difficulty"]["hard"]["pass@1"]))
            easy.append(100 * (ssd["by_difficulty"]["easy"]["pass@1"] - base["by_difficulty"]["easy"]["pass@1"]))
            bad.append(r["ssd_data"]["share_no_valid_code"] if r.get("ssd_data") else float("nan"))
            cells.append(f"{base['pass@1']:.3f} ({base['temperature']:g}) -> {ssd['pass@1']:.3f} ({ssd['temperature']:g})")
        if gains:
            mean = lambda v: f"{statistics.mean(v):+.1f} pp"
            rows.append([run, *cells, mean(gains), f"{min(gains):+.1f} .. {max(gains):+.1f}", mean(hard), mean(easy),
                         f"{100 * statistics.mean(bad):.1f} %"])
    header = ["run", *[f"seed {s}: base -> SSD (best T)" for s in seeds], "mean gain", "spread (min..max)",
              "hard gain", "easy gain", "no valid code"]
    text = ("pass@1 at each model's own best temperature (test split, 450 problems); gain = SSD - base in "
            "percentage points; hard/easy gain at those same temperatures\n\n" + markdown_table(header, rows))
    with open(os.path.join(out, "study.md"), "w") as f:
        f.write(text + "\n")
    print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--only", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    ap.add_argument("--out", default="out")
    ap.add_argument("--summarize", action="store_true", help="do not train, only rebuild the table")
    ap.add_argument("--redo", action="store_true", help="rerun runs whose report already exists (default: skip them, "
                    "so an interrupted study picks up where it stopped)")
    args, extra = ap.parse_known_args()   # anything else goes to train.py
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = args.only.split(",")
    if not set(runs) <= set(RUNS):
        ap.error(f"--only takes names from {', '.join(RUNS)}")
    if not args.summarize:
        for s in seeds:
            for run in runs:
                report = os.path.join(args.out, f"seed{s}", f"{run}_report.json")
                if os.path.exists(report) and not args.redo:
                    print(f"{report} exists: skipped (--redo reruns it)", flush=True)
                    continue
                cmd = [sys.executable, "train.py", f"--seed={s}", f"--out_dir={os.path.join(args.out, f'seed{s}')}",
                       f"--run={run}", *RUNS[run], *extra] + ([] if run == "ssd" else ["--stage=ssd"])
                print("$ " + " ".join(cmd[1:]), flush=True)
                subprocess.run(cmd, check=True)
    summarize(args.out, seeds)


if __name__ == "__main__":
    main()
