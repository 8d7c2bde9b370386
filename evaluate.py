"""Judge and score: run generated programs against their tests in a sandbox; pass@k; tables.

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
With --ckpt the completions come from sample.py (sample_completions), one sweep per temperature.

The programs run in the sandbox of sandbox/ (its docstring says what it does and what it does
NOT protect against).
"""
import json
import math
import os
import re
import sys
import time

from data import number, number_list, read_jsonl, run_main, unwritable
from sandbox import MAX_TIMEOUT, MAX_WORKERS, MIN_MEMORY_MB, check_limits, check_platform, ram_mb, run_all
from tables import markdown_table

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
    problems, line = [], {}
    for n, p in read_jsonl(path, ("task_id", "prompt", "test"), with_lines=True):
        p = {**p, "test_style": p.get("test_style") or "call", "difficulty": p.get("difficulty") or "all"}
        if p["task_id"] in line:   # a second one would silently replace the first in every {task_id: problem}
            raise SystemExit(f"error: {path}:{n}: task_id {p['task_id']!r} again (first on line {line[p['task_id']]})")
        line[p["task_id"]] = n
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


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)   # ASCII digits: "٣" is text, not 3
INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


def outputs_match(got, expected, tol=1e-6):
    """Line by line after stripping. Within a line, the whitespace-separated tokens must be equal,
    or both integers of equal value, or both numbers within relative and absolute tolerance `tol`."""
    def same(x, y):
        if x == y or not (NUMBER.fullmatch(x) and NUMBER.fullmatch(y)):
            return x == y
        if INTEGER.fullmatch(x) and INTEGER.fullmatch(y):     # by their digits: int() refuses 4,300 and more
            return _integer_digits(x) == _integer_digits(y)
        return math.isclose(float(x), float(y), rel_tol=tol, abs_tol=tol)

    def same_line(a, b):
        a, b = a.split(), b.split()
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    got, expected = got.strip().splitlines(), expected.strip().splitlines()
    return len(got) == len(expected) and all(same_line(a, b) for a, b in zip(got, expected))


def _integer_digits(text):
    """An integer's sign and digits without leading zeros: "-007" -> ("-", "7"), "+0" -> ("", "0")."""
    digits = text.lstrip("+-").lstrip("0") or "0"
    return ("-" if text.startswith("-") and digits != "0" else ""), digits


def judge(problems, samples, workers=None, timeout=3.0, memory_mb=512, progress=True, known=None):
    """One result per sample, in order: {task_id, completion, verdict, detail, passed}. `known`, a
    dict that this fills, carries verdicts over to later calls with the same problems and limits:
    a program judged once is not run again (a sweep's temperatures and models share many)."""
    check_limits(timeout, memory_mb, workers)
    problems = problems if isinstance(problems, dict) else {p["task_id"]: p for p in problems}
    jobs, keys, cases, known = {}, [], {}, {} if known is None else known
    for s in samples:
        if s["task_id"] not in problems:
            raise ValueError(f"sample for unknown task_id {s['task_id']!r}")
        p = problems[s["task_id"]]
        if p["task_id"] not in cases:
            cases[p["task_id"]] = stdin_cases(p)
        src = extract_code(p, s["completion"])
        key = None if src is None else (p["task_id"], src)      # identical programs run once
        if key is not None and key not in jobs and key not in known:
            c = cases[p["task_id"]]
            jobs[key] = {"solution": src, "inputs": [i for i, _ in c] if c else None,
                         "test": None if c else f"{p['test']}\n\ncheck({p['entry_point']})\n"}
        keys.append(key)
    known[None] = ("no code", "no code could be extracted from the completion")
    # each result becomes its verdict as it arrives: a stdin program's outputs (up to 8 MB) are not kept
    known.update(run_all(jobs, workers, timeout, memory_mb, progress, each=lambda key, res: _verdict(res, cases[key[0]])))
    return [{"task_id": s["task_id"], "completion": s["completion"], "verdict": known[k][0],
             "detail": known[k][1], "passed": known[k][0] == "passed"} for s, k in zip(samples, keys)]


def _verdict(res, cases):
    if res["status"] != "ok":
        return res["status"], res["detail"]
    for i, ((_, want), got) in enumerate(zip(cases or [], res.get("outputs", []))):
        if not outputs_match(got, want):
            return "wrong answer", f"case {i + 1}: expected {want[:80]!r}, got {got[:80]!r}"
    return "passed", ""


# --- scores and tables ------------------------------------------------------------------------
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
    """One row per (label, summary): pass@k overall, then per difficulty, then the no-code share."""
    diffs = [d for d in rows[0][1]["by_difficulty"] if d != "all"] if rows else []
    head = ["", *[f"pass@{k}" for k in ks], *[f"{d} pass@{k}" for d in diffs for k in ks], "no code"]
    body = []
    for label, s in rows:
        cells = [f"{s[f'pass@{k}']:.3f}" for k in ks]
        cells += [f"{s['by_difficulty'][d][f'pass@{k}']:.3f}" if d in s["by_difficulty"] else "-" for d in diffs for k in ks]
        body.append([label, *cells, f"{s['no_code']:.1%}"])
    return markdown_table(head, body)


def sweep(model, problems, temperatures, n, ks=(1, 5), workers=None, timeout=3.0, progress=True, known=None,
          memory_mb=512, **sample_kw):
    """For each temperature: sample n completions per problem (sample.py), judge, summarize.
    Returns [{temperature, summary, results}]. The temperatures share their verdicts (`known`,
    see judge): about half of a sweep's programs were already written at another temperature."""
    from sample import sample_completions   # torch is loaded only when a model is evaluated
    runs, known = [], {} if known is None else known
    for t in temperatures:
        results = judge(problems, sample_completions(model, problems, t, n, progress=progress, **sample_kw),
                        workers, timeout, memory_mb, progress=progress, known=known)
        runs.append({"temperature": t, "summary": summarize(problems, results, ks), "results": results})
    return runs


# --- command line -----------------------------------------------------------------------------
def main(argv=None):
    import argparse
    positive, non_negative = number(int, 0), number(int, 0, strict=False)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "test.jsonl"),
                    help="HumanEval-schema JSONL or .jsonl.gz (default: data/test.jsonl)")
    ap.add_argument("--samples", help="JSONL of {task_id, completion} to score")
    ap.add_argument("--ckpt", help="or: a train.py checkpoint to sample from")
    ap.add_argument("--temperatures", type=number_list(float, 0, strict=False), default="0.2,0.6,1.0",
                    help="with --ckpt: comma-separated (0 = greedy)")
    ap.add_argument("--n", type=positive, default=10, help="with --ckpt: samples per problem")
    for name, typ, default in (("top_k", non_negative, 0), ("top_p", number(float, 0, high=1), 1.0),
                               ("min_p", number(float, 0, strict=False, high=1), 0.0), ("seed", int, 0),
                               ("batch_size", positive, 256), ("max_new_tokens", positive, 128)):
        ap.add_argument(f"--{name}", type=typ, default=default, help=f"with --ckpt (default {default})")
    ap.add_argument("--device", default="cpu", help="with --ckpt: where the model runs")
    ap.add_argument("--ks", type=number_list(int, 1, strict=False),
                    help="pass@k to report (default 1,5, leaving out k > samples per problem)")
    # the sandbox's own ranges (sandbox.check_limits), checked here as options: a memory cap above the
    # machine's memory would be no cap at all, and under 64 MB no interpreter starts (every program would fail)
    ap.add_argument("--workers", type=number(int, 1, strict=False, high=MAX_WORKERS),
                    help=f"sandboxes in parallel, 1..{MAX_WORKERS} (default: one per core)")
    ap.add_argument("--timeout", type=number(float, 0, high=MAX_TIMEOUT), default=3.0,
                    help=f"wall-clock seconds per program, in (0, {MAX_TIMEOUT}] (default 3)")
    ap.add_argument("--memory_mb", type=number(int, MIN_MEMORY_MB, strict=False, high=ram_mb()), default=512,
                    help=f"address space per program, {MIN_MEMORY_MB}..{ram_mb()} (this machine's memory; default 512)")
    ap.add_argument("--out", help="results JSONL (default: SAMPLES_results.jsonl or CKPT_eval.jsonl)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    if (args.samples is None) == (args.ckpt is None):
        ap.error("give either --samples=FILE or --ckpt=FILE")
    check_platform()                        # before a model samples for minutes
    ks = args.ks or [1, 5]
    out = args.out or (args.samples + "_results.jsonl" if args.samples else os.path.splitext(args.ckpt)[0] + "_eval.jsonl")
    if unwritable(out):
        ap.error(f"--out={out}: {unwritable(out)}")
    problems = {p["task_id"]: p for p in load_problems(args.problems)}
    if args.samples:
        runs, ks = _judge_file(args, problems, ks)
    else:
        try:
            import torch
            torch.device(args.device)
        except RuntimeError:
            ap.error(f"--device={args.device} is not a device (cpu, cuda, cuda:1, ...)")
        runs, ks = _sample_and_judge(args, problems, ks)
    with open(out, "w", encoding="utf-8") as f:
        for _, results, extra in runs:
            f.writelines(json.dumps({**r, **extra}) + "\n" for r in results)
    summaries = [(label, summarize(problems, results, ks)) for label, results, _ in runs]
    for label, s in summaries:
        print(f"{label} verdicts: " + ", ".join(f"{v} {c}" for v, c in s["verdicts"].items() if c))
    print(format_table(summaries, ks))
    print(f"results -> {out}")


def _judge_file(args, problems, ks):
    """--samples: judge a file of completions. Returns ([(label, results, extra fields)], ks)."""
    samples, per_task = [], {}
    for n, s in read_jsonl(args.samples, ("task_id", "completion"), with_lines=True):
        if s["task_id"] not in problems:
            raise SystemExit(f"error: {args.samples}:{n}: task_id {s['task_id']!r} is not in {args.problems}")
        samples.append({"task_id": s["task_id"], "completion": s["completion"]})
        per_task[s["task_id"]] = per_task.get(s["task_id"], 0) + 1
    if not samples:
        raise SystemExit(f"error: {args.samples}: no samples")
    ks = _usable_ks(ks, min(per_task.values()), explicit=args.ks is not None)
    t0 = time.time()
    results = judge(problems, samples, args.workers, args.timeout, args.memory_mb, progress=not args.quiet)
    dt, distinct = time.time() - t0, len({(r["task_id"], r["completion"]) for r in results})
    print(f"judged {len(results)} samples ({distinct} distinct) of {len(per_task)}/{len(problems)} problems "
          f"in {dt:.2f} s: {distinct / dt:.0f} programs/s")
    return [("samples", results, {})], ks


def _sample_and_judge(args, problems, ks):
    """--ckpt: sample n completions per problem at each temperature, and judge them."""
    import torch
    from model import load_model
    ks = _usable_ks(ks, args.n, explicit=args.ks is not None)
    model, _ = load_model(args.ckpt, args.device)
    torch.manual_seed(args.seed)
    swept = sweep(model, list(problems.values()), args.temperatures, args.n, ks, args.workers, args.timeout,
                  progress=not args.quiet, memory_mb=args.memory_mb, top_k=args.top_k, top_p=args.top_p,
                  min_p=args.min_p, seed=args.seed, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    print(f"{args.ckpt}: {len(problems)} problems, n = {args.n}")
    return [(f"T {r['temperature']:g}", r["results"], {"temperature": r["temperature"]}) for r in swept], ks


def _usable_ks(ks, n, explicit):
    """Refuse k > n when it was asked for; by default leave such k out, with a note."""
    bad = [k for k in ks if k > n]
    if bad and explicit:
        raise SystemExit(f"error: pass@{bad[0]} needs at least {bad[0]} samples per problem, but some have {n}")
    if bad:
        print(f"note: pass@{','.join(map(str, bad))} left out: {n} sample(s) per problem", file=sys.stderr)
    return [k for k in ks if k <= n] or [1]


if __name__ == "__main__":
    run_main(main)
