"""The base-vs-SSD report: both models swept over evaluation temperatures, side by side.

    python train.py                     # writes out/ssd_report.md and out/ssd_report.json
    python train.py --stage=eval        # only this report, for out/base.pt and out/ssd.pt

Both models are sampled on the same test problems with the same seeds at every temperature,
judged (evaluate.py), and compared at each model's own best temperature: the paper's
best-vs-best pass@1. The base model's sweep is cached in out_dir/base_sweep.json, so the
controls of study.py, which share one base model, evaluate it only once.
"""
import json
import os

import evaluate
from data import read_jsonl


def compare(models, problems, temperatures, n, ks=(1, 5), cache=None, key=None, **sample_kw):
    """{name: [summary per temperature]} for each model on the same problems and seeds. With
    `cache` (a JSON file) the first model's sweep is saved there and reused while `key` (what
    that model and the settings are) stays the same."""
    setting = {"key": key, "temperatures": temperatures, "n": n, "problems": [p["task_id"] for p in problems],
               **sample_kw}
    old = json.load(open(cache)) if cache and os.path.exists(cache) else {}
    sweeps = {}
    for i, (name, model) in enumerate(models.items()):
        if i == 0 and old.get("setting") == setting:
            sweeps[name] = old["sweep"]
            continue
        sweeps[name] = [{"temperature": r["temperature"], **{k: v for k, v in r["summary"].items() if k != "per_problem"}}
                        for r in evaluate.sweep(model, problems, temperatures, n, ks, **sample_kw)]
        if i == 0 and cache:
            with open(cache, "w") as f:
                json.dump({"setting": setting, "sweep": sweeps[name]}, f)
    return sweeps


def comparison_table(sweeps, ks=(1, 5)):
    """Markdown: pass@k of several models per temperature (* = each model's best pass@1), then
    each model at its own best temperature by difficulty, then the best-vs-best difference."""
    names = list(sweeps)
    best = {n: max(rs, key=lambda r: r["pass@1"]) for n, rs in sweeps.items()}
    cols = [(n, k) for n in names for k in ks]
    rows = []
    for i, r0 in enumerate(sweeps[names[0]]):
        cells = [f"{sweeps[n][i][f'pass@{k}']:.3f}" + ("*" if k == 1 and sweeps[n][i] is best[n] else "") for n, k in cols]
        rows.append([f"{r0['temperature']:g}", *cells])
    lines = [evaluate.markdown_table(["T", *[f"{n} pass@{k}" for n, k in cols]], rows)]
    diffs = list(best[names[0]]["by_difficulty"])
    cell = lambda s: " / ".join(f"{s[f'pass@{k}']:.3f}" for k in ks)
    at_best = [[n, f"{best[n]['temperature']:g}", cell(best[n]), *[cell(best[n]["by_difficulty"][d]) for d in diffs]]
               for n in names]
    lines += ["", "Each model at its best temperature (pass@" + " / pass@".join(map(str, ks)) + "):", "",
              evaluate.markdown_table(["model", "best T", "all", *diffs], at_best)]
    if len(names) == 2:
        a, b = best[names[0]]["pass@1"], best[names[1]]["pass@1"]
        lines += ["", f"best-vs-best pass@1: {names[1]} {b:.3f} - {names[0]} {a:.3f} = {100 * (b - a):+.1f} pp"]
    return "\n".join(lines)


def write_report(args, models, ssd_stats=None, key=None):
    """Sweep T for each model on the test split; print the comparison and save it as
    out_dir/RUN_report.md and RUN_report.json (the settings, the SSD data's statistics, the sweeps)."""
    problems = read_jsonl(os.path.join(args.data_dir, "test.jsonl"), required=("task_id", "prompt", "test"))
    problems = problems[:args.eval_problems or None]
    ks = (1, 5) if args.eval_n >= 5 else (1,)
    kw = dict(top_k=args.eval_top_k, top_p=args.eval_top_p, seed=args.seed, max_new_tokens=args.block_size)
    sweeps = compare(models, problems, args.eval_temperatures, args.eval_n, ks, **kw,
                     cache=os.path.join(args.out_dir, "base_sweep.json"), key=key)
    text = (f"pass@k on {len(problems)} test problems, n = {args.eval_n} per temperature, eval top-k "
            f"{args.eval_top_k or 'off'}, top-p {args.eval_top_p:g}; SSD data T {args.ssd_temperature:g}, "
            f"top-k {args.ssd_top_k or 'off'}, top-p {args.ssd_top_p:g}"
            + (f", min-p {args.ssd_min_p:g}" if args.ssd_min_p else "") + f"; seed {args.seed}\n\n"
            + comparison_table(sweeps, ks))
    print("\n" + text)
    with open(os.path.join(args.out_dir, f"{args.run}_report.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out_dir, f"{args.run}_report.json"), "w") as f:
        json.dump({"args": vars(args), "ssd_data": ssd_stats, "sweeps": sweeps}, f, indent=1)
    return sweeps
