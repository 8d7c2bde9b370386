"""Run generated programs against their tests in a sandbox; pass@k; temperature sweeps.

    python evaluate.py --samples=samples.jsonl                          # {task_id, completion} lines
    python evaluate.py --problems=HumanEval.jsonl.gz --samples=s.jsonl   # any HumanEval-schema file
    python evaluate.py --ckpt=out/base.pt --temperatures=0.2,0.6,1.0 --n=10   # sample, judge, table

A program is the problem's prompt plus the completion (a body that continues the prompt); with
```python fences (chat style) it is the first fenced block, after the prompt (a block that defines
the function replaces the prompt's stub; for stdin problems a block that reads input stands alone).
No code at all is the verdict "no code", reported as the paper's "no extractable code" share.
"call" problems run `test`, then `check(<entry_point>)`, seeing the program's names (HumanEval);
"stdin" problems get each case's input and pass when the output matches line by line after
stripping, numbers within relative and absolute 1e-6 (integers exactly). Verdicts: passed, wrong
answer, runtime error (detail: the last traceback line), timeout, memory limit, no code.
Identical (task, program) pairs are judged once; results are JSONL, one line per sample.

The programs run in the sandbox of sandbox.py (its docstring says what it does and what it
does NOT protect against).
"""
import json
import math
import os
import re
import sys
import time

from data import read_jsonl
from sandbox import run_all

VERDICTS = ("passed", "wrong answer", "runtime error", "timeout", "memory limit", "no code")


# --- pass@k -----------------------------------------------------------------------------------
def pass_at_k(n, c, k):
    """Unbiased pass@k (Chen et al. 2021) with n samples, c correct: 1 - C(n-c, k) / C(n, k),
    computed as the stable product 1 - prod_{i=n-c+1..n} (1 - k/i)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got n={n}")
    return 1.0 if n - c < k else 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


# --- problems, programs, outputs --------------------------------------------------------------
def load_problems(path):
    """HumanEval-schema problems; test_style defaults to "call", difficulty to "all"."""
    problems = []
    for n, p in read_jsonl(path, ("task_id", "prompt", "test"), with_lines=True):
        p = {**p, "test_style": p.get("test_style") or "call", "difficulty": p.get("difficulty") or "all"}
        try:
            stdin_cases(p)
        except ValueError as e:
            raise SystemExit(f"error: {path}:{n}: {e}")
        problems.append(p)
    return problems


def stdin_cases(problem):
    """[(input, output)] of a stdin problem, None for a call problem; a bad schema is a ValueError."""
    style = problem.get("test_style") or "call"
    if style == "call":
        if not str(problem.get("entry_point", "")).isidentifier():
            raise ValueError("a call problem needs an entry_point (a function name)")
        return None
    if style != "stdin":
        raise ValueError(f"test_style must be 'call' or 'stdin', got {style!r}")
    try:
        cases = [(c["input"], c["output"]) for c in json.loads(problem["test"])]
    except (ValueError, TypeError, KeyError):
        cases = None
    if not cases or not all(isinstance(s, str) for case in cases for s in case):
        raise ValueError('test must be a JSON list of {"input": str, "output": str}')
    return cases


def fenced_blocks(text):
    """The ``` blocks tagged python (or untagged), in order; an unclosed one runs to the end."""
    blocks, cur, lang = [], None, ""
    for line in text.splitlines(keepends=True):
        if line.strip().startswith("```"):
            if cur is None:
                cur, lang = [], line.strip()[3:].strip().lower()
                continue
            blocks.append((lang, "".join(cur)))
            cur = None
        elif cur is not None:
            cur.append(line)
    if cur is not None:
        blocks.append((lang, "".join(cur)))
    return [b for lang, b in blocks if lang in ("", "python", "python3", "py") and b.strip()]


def extract_code(problem, completion):
    """The program to test (everything but the tests) for a completion, or None if there is none."""
    if "```" not in completion:
        return problem["prompt"] + completion if completion.strip() else None
    blocks = fenced_blocks(completion)
    if not blocks:
        return None
    if (problem.get("test_style") or "call") == "call":
        name = re.escape(problem["entry_point"])
        full = [b for b in blocks if re.search(rf"^\s*def\s+{name}\s*\(", b, re.M)]
        return problem["prompt"] + "\n" + full[0] if full else problem["prompt"] + blocks[0]
    return blocks[0] if re.search(r"stdin|input\(|open\(0", blocks[0]) else problem["prompt"] + blocks[0]


def valid_code(problem, completion):
    """Is there code, and does it compile? (The paper's stress test counts samples without.)"""
    src = extract_code(problem, completion)
    try:
        return src is not None and compile(src, "<sample>", "exec") is not None
    except (SyntaxError, ValueError):
        return False


NUMBER, INTEGER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"), re.compile(r"[+-]?\d+")


def outputs_match(got, expected, tol=1e-6):
    """Line by line after stripping. Within a line, the whitespace-separated tokens must be equal,
    or both integers of equal value, or both numbers within relative and absolute tolerance `tol`."""
    def same(x, y):
        if x == y or not (NUMBER.fullmatch(x) and NUMBER.fullmatch(y)):
            return x == y
        if INTEGER.fullmatch(x) and INTEGER.fullmatch(y):
            return int(x) == int(y)
        return math.isclose(float(x), float(y), rel_tol=tol, abs_tol=tol)

    def same_line(a, b):
        a, b = a.split(), b.split()
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    got, expected = got.strip().splitlines(), expected.strip().splitlines()
    return len(got) == len(expected) and all(same_line(a, b) for a, b in zip(got, expected))


def judge(problems, samples, workers=None, timeout=3.0, memory_mb=512, progress=True):
    """One result per sample, in order: {task_id, completion, verdict, detail, passed}."""
    problems = problems if isinstance(problems, dict) else {p["task_id"]: p for p in problems}
    jobs, keys, cases = {}, [], {}
    for s in samples:
        if s["task_id"] not in problems:
            raise ValueError(f"sample for unknown task_id {s['task_id']!r}")
        p = problems[s["task_id"]]
        if p["task_id"] not in cases:
            cases[p["task_id"]] = stdin_cases(p)
        src = extract_code(p, s["completion"])
        key = None if src is None else (p["task_id"], src)      # identical programs run once
        if key is not None and key not in jobs:
            c = cases[p["task_id"]]
            jobs[key] = {"solution": src, "inputs": [i for i, _ in c] if c else None,
                         "test": None if c else f"{p['test']}\n\ncheck({p['entry_point']})\n"}
        keys.append(key)
    verdicts = {None: ("no code", "no code could be extracted from the completion")}
    for key, res in run_all(jobs, workers, timeout, memory_mb, progress).items():
        verdicts[key] = _verdict(res, cases[key[0]])
    return [{"task_id": s["task_id"], "completion": s["completion"], "verdict": verdicts[k][0],
             "detail": verdicts[k][1], "passed": verdicts[k][0] == "passed"} for s, k in zip(samples, keys)]


def _verdict(res, cases):
    if res["status"] != "ok":
        return res["status"], res["detail"]
    for i, ((_, want), got) in enumerate(zip(cases or [], res.get("outputs", []))):
        if not outputs_match(got, want):
            return "wrong answer", f"case {i + 1}: expected {want[:80]!r}, got {got[:80]!r}"
    return "passed", ""


def summarize(problems, results, ks=(1, 5)):
    """pass@k overall and per difficulty (means over the problems that have samples), n / c /
    pass@k per problem, verdict counts and the share of samples without extractable code."""
    problems = problems if isinstance(problems, dict) else {p["task_id"]: p for p in problems}
    counts = {}
    for r in results:
        n, c = counts.get(r["task_id"], (0, 0))
        counts[r["task_id"]] = (n + 1, c + r["passed"])
    per_problem = {t: {"n": n, "c": c, **{f"pass@{k}": pass_at_k(n, c, k) for k in ks}} for t, (n, c) in counts.items()}
    groups = {}
    for t in counts:
        groups.setdefault(problems[t].get("difficulty") or "all", []).append(per_problem[t])

    def mean(rows):
        return {"problems": len(rows), **{f"pass@{k}": sum(r[f"pass@{k}"] for r in rows) / max(len(rows), 1) for k in ks}}
    verdicts = {v: sum(r["verdict"] == v for r in results) for v in VERDICTS}
    order = {"easy": 0, "medium": 1, "hard": 2}
    return {**mean(list(per_problem.values())), "samples": len(results), "verdicts": verdicts,
            "no_code": verdicts["no code"] / max(len(results), 1), "per_problem": per_problem,
            "by_difficulty": {d: mean(groups[d]) for d in sorted(groups, key=lambda d: (order.get(d, 3), d))}}


def format_table(rows, ks=(1, 5)):
    """A markdown table: one row per (label, summary); pass@k overall, then per difficulty."""
    diffs = [d for d in rows[0][1]["by_difficulty"] if d != "all"] if rows else []
    head = ["", *[f"pass@{k}" for k in ks], *[f"{d} pass@{k}" for d in diffs for k in ks], "no code"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, s in rows:
        cells = [f"{s[f'pass@{k}']:.3f}" for k in ks]
        cells += [f"{s['by_difficulty'][d][f'pass@{k}']:.3f}" if d in s["by_difficulty"] else "-" for d in diffs for k in ks]
        lines.append("| " + " | ".join([str(label), *cells, f"{s['no_code']:.1%}"]) + " |")
    return "\n".join(lines)


def compare(models, problems, temperatures, n, ks=(1, 5), cache=None, key=None, **sample_kw):
    """{name: [summary per temperature]} for each model on the same problems and seeds. With
    `cache` (a JSON file) the first model's sweep is saved there and reused while `key` (what
    that model and the settings are) stays the same: controls need not re-evaluate the base."""
    setting = {"key": key, "temperatures": temperatures, "n": n, "problems": [p["task_id"] for p in problems],
               **sample_kw}
    old = json.load(open(cache)) if cache and os.path.exists(cache) else {}
    sweeps = {}
    for i, (name, model) in enumerate(models.items()):
        if i == 0 and old.get("setting") == setting:
            sweeps[name] = old["sweep"]
            continue
        sweeps[name] = [{"temperature": r["temperature"], **{k: v for k, v in r["summary"].items() if k != "per_problem"}}
                        for r in sweep(model, problems, temperatures, n, ks, **sample_kw)]
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
    lines = ["| T | " + " | ".join(f"{n} pass@{k}" for n, k in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for i, r0 in enumerate(sweeps[names[0]]):
        cells = [f"{sweeps[n][i][f'pass@{k}']:.3f}" + ("*" if k == 1 and sweeps[n][i] is best[n] else "") for n, k in cols]
        lines.append(f"| {r0['temperature']:g} | " + " | ".join(cells) + " |")
    diffs = list(best[names[0]]["by_difficulty"])
    lines += ["", "Each model at its best temperature (pass@" + " / pass@".join(map(str, ks)) + "):", "",
              "| model | best T | all | " + " | ".join(diffs) + " |", "|---" * (len(diffs) + 3) + "|"]
    for n in names:
        b = best[n]
        cell = lambda s: " / ".join(f"{s[f'pass@{k}']:.3f}" for k in ks)
        lines.append(f"| {n} | {b['temperature']:g} | {cell(b)} | " + " | ".join(cell(b["by_difficulty"][d]) for d in diffs) + " |")
    if len(names) == 2:
        a, b = best[names[0]]["pass@1"], best[names[1]]["pass@1"]
        lines += ["", f"best-vs-best pass@1: {names[1]} {b:.3f} - {names[0]} {a:.3f} = {100 * (b - a):+.1f} pp"]
    return "\n".join(lines)


# --- sampling from a checkpoint ---------------------------------------------------------------
def sample_completions(model, problems, temperature, n, top_k=0, top_p=1.0, min_p=0.0, seed=0,
                       batch_size=256, max_new_tokens=128, progress=True):
    """n completions per problem as [{task_id, completion, tokens}], problem-major (tokens: the
    sampled ids, which re-encoding the text need not reproduce). Prompts of similar length share
    a batch of ~batch_size rows; greedy (T = 0) is generated once and copied."""
    import torch
    from tqdm import tqdm
    from data.tokenizer import get_tokenizer
    from sample import generate
    enc = get_tokenizer()
    ids = [enc.encode(p["prompt"]) for p in problems]
    rows = 1 if temperature == 0 else n
    step = max(1, batch_size // rows)
    order = sorted(range(len(problems)), key=lambda i: len(ids[i]))
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    outs = [None] * len(problems)
    for s in tqdm(range(0, len(order), step), desc=f"sampling T={temperature:g}", disable=None if progress else True):
        idx = order[s:s + step]
        batch = generate(model, [ids[i] for i in idx], n=rows, max_new_tokens=max_new_tokens, temperature=temperature,
                         top_k=top_k, top_p=top_p, min_p=min_p, generator=gen)
        for j, i in enumerate(idx):
            outs[i] = batch[j * rows:(j + 1) * rows] * (n // rows)
    return [{"task_id": p["task_id"], "completion": enc.decode(o), "tokens": o} for p, os_ in zip(problems, outs) for o in os_]


def sweep(model, problems, temperatures, n, ks=(1, 5), workers=None, timeout=3.0, progress=True, **sample_kw):
    """For each temperature: sample n completions per problem, judge, summarize.
    Returns [{temperature, summary, results}]."""
    runs = []
    for t in temperatures:
        results = judge(problems, sample_completions(model, problems, t, n, progress=progress, **sample_kw),
                        workers, timeout, progress=progress)
        runs.append({"temperature": t, "summary": summarize(problems, results, ks), "results": results})
    return runs


# --- command line -----------------------------------------------------------------------------
def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "test.jsonl"),
                    help="HumanEval-schema JSONL or .jsonl.gz (default: data/test.jsonl)")
    ap.add_argument("--samples", help="JSONL of {task_id, completion} to score")
    ap.add_argument("--ckpt", help="or: a train.py checkpoint to sample from")
    ap.add_argument("--temperatures", default="0.2,0.6,1.0", help="with --ckpt: comma-separated (0 = greedy)")
    ap.add_argument("--n", type=int, default=10, help="with --ckpt: samples per problem")
    for name, typ, default in (("top_k", int, 0), ("top_p", float, 1.0), ("min_p", float, 0.0), ("seed", int, 0),
                               ("batch_size", int, 256), ("max_new_tokens", int, 128)):
        ap.add_argument(f"--{name}", type=typ, default=default, help=f"with --ckpt (default {default})")
    ap.add_argument("--device", default="cpu", help="with --ckpt: where the model runs")
    ap.add_argument("--ks", help="pass@k to report (default 1,5, leaving out k > samples per problem)")
    ap.add_argument("--workers", type=int, help="sandboxes in parallel (default: one per core)")
    ap.add_argument("--timeout", type=float, default=3.0, help="wall-clock seconds per program (default 3)")
    ap.add_argument("--memory_mb", type=int, default=512, help="address space per program (default 512)")
    ap.add_argument("--out", help="results JSONL (default: SAMPLES_results.jsonl or CKPT_eval.jsonl)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    if (args.samples is None) == (args.ckpt is None):
        ap.error("give either --samples=FILE or --ckpt=FILE")
    try:
        ks, temps = [int(k) for k in (args.ks or "1,5").split(",")], [float(t) for t in args.temperatures.split(",")]
    except ValueError:
        ap.error("--ks and --temperatures take comma-separated numbers")
    if args.n < 1 or args.timeout <= 0 or min(ks) < 1 or min(temps) < 0:
        ap.error("--n and --ks must be >= 1, --timeout > 0, temperatures >= 0")
    problems = {p["task_id"]: p for p in load_problems(args.problems)}
    if args.samples:
        samples = []
        for n, s in read_jsonl(args.samples, ("task_id", "completion"), with_lines=True):
            if s["task_id"] not in problems:
                raise SystemExit(f"error: {args.samples}:{n}: task_id {s['task_id']!r} is not in {args.problems}")
            samples.append({"task_id": s["task_id"], "completion": s["completion"]})
        if not samples:
            raise SystemExit(f"error: {args.samples}: no samples")
        per_task = {}
        for s in samples:
            per_task[s["task_id"]] = per_task.get(s["task_id"], 0) + 1
        ks = _usable_ks(ks, min(per_task.values()), explicit=args.ks is not None)
        t0 = time.time()
        results = judge(problems, samples, args.workers, args.timeout, args.memory_mb, progress=not args.quiet)
        dt, distinct = time.time() - t0, len({(r["task_id"], r["completion"]) for r in results})
        runs, out = [("samples", results, {})], args.out or args.samples + "_results.jsonl"
        print(f"judged {len(results)} samples ({distinct} distinct) of {len(per_task)}/{len(problems)} problems "
              f"in {dt:.2f} s: {distinct / dt:.0f} programs/s")
    else:
        import torch
        from model import load_model
        ks = _usable_ks(ks, args.n, explicit=args.ks is not None)
        model, _ = load_model(args.ckpt, args.device)
        torch.manual_seed(args.seed)
        swept = sweep(model, list(problems.values()), temps, args.n, ks, args.workers, args.timeout,
                      progress=not args.quiet, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p, seed=args.seed,
                      batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
        runs = [(f"T {r['temperature']:g}", r["results"], {"temperature": r["temperature"]}) for r in swept]
        out = args.out or os.path.splitext(args.ckpt)[0] + "_eval.jsonl"
        print(f"{args.ckpt}: {len(problems)} problems, n = {args.n}")
    with open(out, "w", encoding="utf-8") as f:
        for _, results, extra in runs:
            f.writelines(json.dumps({**r, **extra}) + "\n" for r in results)
    summaries = [(label, summarize(problems, results, ks)) for label, results, _ in runs]
    for label, s in summaries:
        print(f"{label} verdicts: " + ", ".join(f"{v} {c}" for v, c in s["verdicts"].items() if c))
    print(format_table(summaries, ks))
    print(f"results -> {out}")


def _usable_ks(ks, n, explicit):
    """Refuse k > n when it was asked for; by default leave such k out, with a note."""
    bad = [k for k in ks if k > n]
    if bad and explicit:
        raise SystemExit(f"error: pass@{bad[0]} needs at least {bad[0]} samples per problem, but some have {n}")
    if bad:
        print(f"note: pass@{','.join(map(str, bad))} left out: {n} sample(s) per problem", file=sys.stderr)
    return [k for k in ks if k <= n] or [1]


if __name__ == "__main__":
    main()
