"""The base-vs-SSD report: both models swept over evaluation temperatures, side by side, and
how sure the difference is.

    python train.py                     # writes out/ssd_report.md and out/ssd_report.json
    python train.py --stage=eval        # only this report, for out/base.pt and out/ssd.pt

Both models are sampled on the same test problems with the same seeds at every temperature,
judged (evaluate.py), and compared at each model's own best temperature: the paper's
best-vs-best pass@1. Its 95 % interval comes from a paired bootstrap over test problems
(paired_bootstrap). Every judged sample is kept in out_dir/base_results.jsonl and
RUN_results.jsonl (the evaluator's format plus the temperature), so any other statistic can be
computed afterwards. The base model's sweep is cached in out_dir/base_sweep.json, so the
controls of study.py, which share one base model, evaluate it only once (and its verdicts, so
that the programs an SSD model writes the same as its base are not run again).
"""
import hashlib
import json
import os

import numpy as np

import evaluate
from data import read_jsonl
from tables import interval, line_chart, markdown_table

# the judge's own code (evaluate.py and the sandbox package): cached verdicts are not reused once it changes
_HERE = os.path.dirname(os.path.abspath(__file__))
JUDGE = hashlib.sha256(b"".join(open(os.path.join(_HERE, f), "rb").read() for f in
                                ["evaluate.py"] + sorted(f"sandbox/{n}" for n in os.listdir(os.path.join(_HERE, "sandbox"))
                                                         if n.endswith(".py")))).hexdigest()[:16]


def paired_bootstrap(sweeps, difficulty, resamples=2000, seed=0):
    """95 % intervals of the second model's gain over the first, in pass@1, by resampling test
    problems: the same resample for both models (paired), so what the two share, the problems'
    own difficulty, cancels out. Inside every resample each model's best temperature is chosen
    anew, so the best-vs-best interval includes the luck of choosing T on the same data. Problems
    are drawn within each difficulty, keeping the split's equal thirds (its design).

    sweeps: {name: [summary per temperature, with per_problem {task_id: {n, c}}]}, two names;
    difficulty: {task_id: "easy" | ...}. Returns {"best_vs_best": {all, easy, ...: {gain, low,
    high}}, "hard_minus_easy", "at_temperature": [...], "best_T_share": {name: {T: share}},
    "replicates"}, in pass@1 points (0.081 = 8.1 pp); gain is the value on the data itself."""
    a, b = list(sweeps)
    tasks = list(sweeps[a][0]["per_problem"])
    temps = [r["temperature"] for r in sweeps[a]]
    # p[model]: (temperatures, problems) per-problem pass@1 = c / n, the unbiased estimate
    p = {m: np.array([[r["per_problem"][t]["c"] / r["per_problem"][t]["n"] for t in tasks] for r in sweeps[m]])
         for m in (a, b)}
    groups = {}
    for i, t in enumerate(tasks):
        groups.setdefault(difficulty.get(t, "all"), []).append(i)
    # w[r, i]: how often problem i is drawn in resample r; row 0 is the data itself (all ones)
    rng = np.random.default_rng(seed)
    w = np.ones((resamples + 1, len(tasks)))
    for idx in groups.values():
        w[1:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=resamples)

    def mean_pass(m, cols=slice(None)):   # (resamples + 1, temperatures)
        return w[:, cols] @ p[m][:, cols].T / w[:, cols].sum(1, keepdims=True)
    rows = np.arange(len(w))
    best = {m: mean_pass(m).argmax(1) for m in (a, b)}   # each model's best T in each resample

    def gain_at_best(cols=slice(None)):
        return mean_pass(b, cols)[rows, best[b]] - mean_pass(a, cols)[rows, best[a]]

    def percentile_interval(g):
        low, high = np.percentile(g[1:], [2.5, 97.5])
        return {"gain": float(g[0]), "low": float(low), "high": float(high)}
    by = {"all": gain_at_best(), **{d: gain_at_best(idx) for d, idx in groups.items() if d != "all"}}
    out = {"resamples": resamples, "best_vs_best": {d: percentile_interval(g) for d, g in by.items()}}
    if {"easy", "hard"} <= set(by):
        out["hard_minus_easy"] = percentile_interval(by["hard"] - by["easy"])
    out["at_temperature"] = [{"temperature": t, **percentile_interval(mean_pass(b)[:, j] - mean_pass(a)[:, j])}
                             for j, t in enumerate(temps)]
    out["best_T_share"] = {m: {f"{t:g}": float((best[m][1:] == j).mean()) for j, t in enumerate(temps)} for m in (a, b)}
    # the resampled gains themselves, for study.py's pooled intervals over several runs
    out["replicates"] = {"all": np.round(by["all"][1:], 5).tolist()}
    if "hard_minus_easy" in out:
        out["replicates"]["hard_minus_easy"] = np.round(by["hard"][1:] - by["easy"][1:], 5).tolist()
    for j, t in enumerate(temps):   # both models at one T: "T0.7", ...
        out["replicates"][f"T{t:g}"] = np.round(mean_pass(b)[1:, j] - mean_pass(a)[1:, j], 5).tolist()
    return out


def pp(x):
    """'+8.1 (95 % CI +5.9 .. +10.3)' from a {gain, low, high} of paired_bootstrap, in points."""
    return interval(x["gain"], x["low"], x["high"])


def compare(models, problems, temperatures, n, ks=(1, 5), cache=None, key=None, results=None, **sample_kw):
    """{name: [summary per temperature]} for each model on the same problems and seeds. With
    `cache` (a JSON file) the first model's sweep and verdicts are saved there and reused while
    `key` (what that model and the settings are) and the problems stay the same. results: {name:
    path} of a JSONL that gets every judged sample of that model (a reused sweep keeps the file
    written with it)."""
    tests = hashlib.sha256(json.dumps(problems, sort_keys=True).encode()).hexdigest()[:16]
    setting = {"key": key, "temperatures": temperatures, "n": n, "problems": [p["task_id"] for p in problems],
               "tests": tests, "judge": JUDGE, **sample_kw}
    old = json.load(open(cache)) if cache and os.path.exists(cache) else {}
    sweeps, known = {}, {}   # known: verdicts shared by the models (they write many of the same programs)
    for i, (name, model) in enumerate(models.items()):
        if i == 0 and old.get("setting") == setting:
            sweeps[name] = old["sweep"]
            # an SSD model writes ~2/3 of its distinct programs the same as its base: not run again
            known.update({(t, src): (verdict, detail) for t, src, verdict, detail in old.get("verdicts", [])})
            continue
        runs = evaluate.sweep(model, problems, temperatures, n, ks, known=known, **sample_kw)
        if results and name in results:
            with open(results[name], "w") as f:
                f.writelines(json.dumps({"temperature": r["temperature"], **x}) + "\n" for r in runs for x in r["results"])
        sweeps[name] = [{"temperature": r["temperature"], **r["summary"]} for r in runs]
        if i == 0 and cache:   # verdicts that a busy machine or a sandbox failure may have caused stay out
            verdicts = [[*k, *v] for k, v in known.items() if k is not None and v[0] not in ("timeout", "internal error")]
            with open(cache + ".tmp", "w") as f:
                json.dump({"setting": setting, "sweep": sweeps[name], "verdicts": verdicts}, f)
            os.replace(cache + ".tmp", cache)   # a cut-off file would break the next run
    return sweeps


def comparison_table(sweeps, ks=(1, 5), ci=None):
    """Markdown: pass@k of several models per temperature (* = each model's best pass@1), then
    each model at its own best temperature by difficulty, then the best-vs-best difference
    (with `ci`, paired_bootstrap's result: the gains with their intervals)."""
    names = list(sweeps)
    best = {n: max(rs, key=lambda r: r["pass@1"]) for n, rs in sweeps.items()}
    cols = [(n, k) for n in names for k in ks]
    rows = []
    for i, r0 in enumerate(sweeps[names[0]]):
        cells = [f"{sweeps[n][i][f'pass@{k}']:.3f}" + ("*" if k == 1 and sweeps[n][i] is best[n] else "") for n, k in cols]
        rows.append([f"{r0['temperature']:g}", *cells])
    lines = [markdown_table(["T", *[f"{n} pass@{k}" for n, k in cols]], rows), ""]
    lines += line_chart({n: [(r["temperature"], r["pass@1"]) for r in sweeps[n]] for n in names})
    diffs = list(best[names[0]]["by_difficulty"])
    cell = lambda s: " / ".join(f"{s[f'pass@{k}']:.3f}" for k in ks)
    at_best = [[n, f"{best[n]['temperature']:g}", cell(best[n]), *[cell(best[n]["by_difficulty"][d]) for d in diffs]]
               for n in names]
    lines += ["", "Each model at its best temperature (pass@" + " / pass@".join(map(str, ks)) + "):", "",
              markdown_table(["model", "best T", "all", *diffs], at_best)]
    if ci:
        rows = [[f"best vs best, {d}", pp(g)] for d, g in ci["best_vs_best"].items()]
        if "hard_minus_easy" in ci:
            rows.append(["hard gain - easy gain", pp(ci["hard_minus_easy"])])
        rows += [[f"both at T = {g['temperature']:g}", pp(g)] for g in ci["at_temperature"]]
        lines += ["", f"{names[1]} - {names[0]}, pass@1 in points, paired bootstrap over test problems "
                  f"({ci['resamples']} resamples, the best T chosen inside each):", "",
                  markdown_table(["gain", "pp"], rows)]
    if len(names) == 2:
        a, b = best[names[0]]["pass@1"], best[names[1]]["pass@1"]
        gain = (interval(b - a, ci["best_vs_best"]["all"]["low"], ci["best_vs_best"]["all"]["high"], unit=" pp")
                if ci else f"{100 * (b - a):+.1f} pp")
        lines += ["", f"best-vs-best pass@1: {names[1]} {b:.3f} - {names[0]} {a:.3f} = {gain}"]
    return "\n".join(lines)


def write_report(args, models, ssd_stats=None, key=None):
    """Sweep T for each model on the test split; print the comparison and save it as
    out_dir/RUN_report.md and RUN_report.json (the settings, the SSD data's statistics, the sweeps)."""
    problems = read_jsonl(os.path.join(args.data_dir, "test.jsonl"), required=("task_id", "prompt", "test"))
    problems = problems[:args.eval_problems or None]
    ks = (1, 5) if args.eval_n >= 5 else (1,)
    kw = dict(top_k=args.eval_top_k, top_p=args.eval_top_p, seed=args.seed, max_new_tokens=args.block_size)
    names = list(models)
    files = {names[0]: os.path.join(args.out_dir, "base_results.jsonl"),
             names[1]: os.path.join(args.out_dir, f"{args.run}_results.jsonl")}
    from model import checksum   # torch is loaded only when models are compared
    key = {"settings": key, "weights": checksum(models[names[0]].state_dict())[:16]}   # the base itself, not only how it was made
    sweeps = compare(models, problems, args.eval_temperatures, args.eval_n, ks, **kw,
                     cache=os.path.join(args.out_dir, "base_sweep.json"), key=key, results=files)
    ci = paired_bootstrap(sweeps, {p["task_id"]: p.get("difficulty", "all") for p in problems})
    text = (f"pass@k on {len(problems)} test problems, n = {args.eval_n} per temperature, eval top-k "
            f"{args.eval_top_k or 'off'}, top-p {args.eval_top_p:g}; SSD data T {args.ssd_temperature:g}, "
            f"top-k {args.ssd_top_k or 'off'}, top-p {args.ssd_top_p:g}"
            + (f", min-p {args.ssd_min_p:g}" if args.ssd_min_p else "") + f"; seed {args.seed}\n\n"
            + comparison_table(sweeps, ks, ci))
    print("\n" + text)
    with open(os.path.join(args.out_dir, f"{args.run}_report.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out_dir, f"{args.run}_report.json"), "w") as f:
        json.dump({"args": vars(args), "ssd_data": ssd_stats, "bootstrap": ci, "sweeps": sweeps}, f)
    return sweeps
