"""The benchmark: small Python list problems, generated from a seed.

    python data/benchmark.py                 # regenerate data/*.jsonl (byte for byte the same)
    python data/benchmark.py --bug_rate=0 --idiom_rate=0 --out=/tmp/clean   # a clean corpus
    python data/benchmark.py --help

Every problem is a *composition* of steps over a list of integers `xs`:
    keep the x that pass 0-2 filters  →  map each kept x (optional)  →  aggregate
e.g. "keep each x that is even and greater than 3, square it, return the sum".
Difficulty is the number of steps: easy = 2, medium = 3, hard = 4 (more tokens that must be
right, more constants, more edge cases). Half the max/min/first problems also carry a default
value for "nothing kept", which the solution must handle.

Two test styles, both in HumanEval's schema (task_id, prompt, entry_point, canonical_solution,
test) plus `difficulty` and `test_style`:
  * "call":  prompt = a function signature + docstring; test = `def check(candidate): assert ...`
  * "stdin": prompt = a comment + a line that reads xs from stdin; the solution prints the answer;
             test = JSON list of {"input": ..., "output": ...} cases (LiveCodeBench style).

Forks (several correct styles): every problem can be solved as a `loop`, a one-line `comp`rehension
or `twostep` (collect a list, then aggregate). Locks: the corpus has realistic bugs.
  * bug_rate (default 0.15): this share of *training* solutions carries exactly one corrupted
    token — a flipped comparison (> vs >=), an off-by-one constant, a swapped operator
    (* vs +, // vs %), max vs min, sum vs len. Each corrupted solution is checked to fail its tests.
  * idiom_rate (default 0.34): this share of training solutions uses a popular *wrong* idiom, an
    index loop that starts at 1 and so skips xs[0]:
        n = len(xs) / total = 0 / for i in range(1, n): ...
    It is the single most common way to start such a solution (0.34 against 0.22 for each correct
    style) while the correct styles together hold more mass (0.66): greedy decoding picks the wrong
    fork, like the root of the paper's toy. Tests always catch it.
Test problems, SSD prompts and every canonical solution are correct; bug_rate = idiom_rate = 0
gives a clean corpus.

Splits are disjoint by composition (the tuple of step kinds, constants ignored): a seeded shuffle
gives 70 % of the compositions to pretraining, 15 % to SSD prompts, 15 % to tests.
  pretrain.jsonl  problems with a training `solution` (maybe buggy: see `bug`, `style`)
  val.jsonl       held-out problems of the *pretraining* compositions, with training-style
                  solutions too (the training distribution: validation loss, "does it learn?")
  ssd.jsonl       prompts and tests only — SSD never sees a solution
  test.jsonl      the evaluation problems
"""
import argparse
import json
import os
import random
import re

# --- the steps ------------------------------------------------------------------------------
# filter kind -> (phrase, condition on the variable v); {c} is a constant
FILTERS = {
    "even": ("is even", "{v} % 2 == 0"),
    "odd": ("is odd", "{v} % 2 == 1"),
    "positive": ("is positive", "{v} > 0"),
    "negative": ("is negative", "{v} < 0"),
    "gt": ("is greater than {c}", "{v} > {c}"),
    "lt": ("is less than {c}", "{v} < {c}"),
    "ge": ("is at least {c}", "{v} >= {c}"),
    "le": ("is at most {c}", "{v} <= {c}"),
    "div": ("is divisible by {c}", "{v} % {c} == 0"),
    "ndiv": ("is not divisible by {c}", "{v} % {c} != 0"),
}
# map kind -> (phrase, expression of x)
MAPS = {
    "square": ("square it", "x * x"),
    "double": ("double it", "x * 2"),
    "times": ("multiply it by {c}", "x * {c}"),
    "plus": ("add {c} to it", "x + {c}"),
    "minus": ("subtract {c} from it", "x - {c}"),
    "abs": ("take its absolute value", "abs(x)"),
    "mod": ("take it modulo {c}", "x % {c}"),
    "div": ("divide it by {c} rounding down", "x // {c}"),
    "negate": ("negate it", "-x"),
}
AGGS = ["sum", "count", "max", "min", "list", "first"]
STYLES = ["loop", "comp", "twostep"]
UNSATISFIABLE = [{"even", "odd"}, {"positive", "negative"}, {"gt", "negative"}, {"ge", "negative"}]
# The corpus's defaults. BUG_RATE was 0.30 until the SSD study showed that one bug in ~5 sites
# gives each bug site a wrong alternative too heavy for T_train 1.6 + top-p 0.8 to cut: heated by
# 1.6, a [0.90, 0.10] lock becomes [0.80, 0.20] and top-p keeps both (chosen on data seed 7).
BUG_RATE, IDIOM_RATE = 0.15, 0.34
SPLIT_SHARES = {"pretrain": 0.70, "ssd": 0.15, "test": 0.15}


def compositions():
    """All (filters, map, agg) kind tuples with 2-4 steps, in a fixed order."""
    fs = sorted(FILTERS)
    filter_sets = [()] + [(a,) for a in fs] + [(a, b) for i, a in enumerate(fs) for b in fs[i + 1:]
                                                 if {a, b} not in UNSATISFIABLE]
    out = []
    for agg in AGGS:
        for filt in filter_sets:
            for m in [None] + sorted(MAPS):
                if agg == "count" and m is not None:
                    continue  # a map does not change a count
                steps = len(filt) + (m is not None) + 1
                if 2 <= steps <= 4 and not (agg == "count" and not filt):
                    out.append((filt, m, agg))
    return out


DIFFICULTY = {2: "easy", 3: "medium", 4: "hard"}


def difficulty(comp):
    filt, m, _ = comp
    return DIFFICULTY[len(filt) + (m is not None) + 1]


# --- one problem ----------------------------------------------------------------------------
def make_spec(comp, rng):
    """Fill a composition with constants and a default."""
    filt, m, agg = comp
    consts = [rng.randint(2, 9) if "{c}" in FILTERS[f][1] else None for f in filt]
    mconst = rng.randint(2, 5) if m and "{c}" in MAPS[m][1] else None
    default = rng.choice([0, -1]) if agg in ("max", "min", "first") else None
    return {"filters": list(zip(filt, consts)), "map": (m, mconst), "agg": agg, "default": default}


def cond_code(spec, v="x"):
    return " and ".join(FILTERS[f][1].format(v=v, c=c) for f, c in spec["filters"])


def expr_code(spec):
    m, c = spec["map"]
    return MAPS[m][1].format(c=c) if m else "x"


def reference(spec, xs):
    """The answer, computed in plain Python from the step tables (not from a rendered style)."""
    if "_fns" not in spec:  # compile the two steps once per problem
        spec["_fns"] = (eval(f"lambda x: {cond_code(spec) or True}"), eval(f"lambda x: {expr_code(spec)}"))
    keep, f = spec["_fns"]
    vals = [f(x) for x in xs if keep(x)]
    agg, d = spec["agg"], spec["default"]
    if agg == "sum":
        return sum(vals)
    if agg == "count":
        return len(vals)
    if agg == "list":
        return vals
    if agg == "first":
        return vals[0] if vals else d
    return (max if agg == "max" else min)(vals) if vals else d


def describe(spec):
    """The English half of the prompt."""
    parts = [FILTERS[f][0].format(c=c) for f, c in spec["filters"]]
    m, mc = spec["map"]
    agg, d = spec["agg"], spec["default"]
    head = f"Take each x in xs that {' and '.join(parts)}" if parts else "Take each x in xs"
    if m:
        head += ", " + MAPS[m][0].format(c=mc)
    what = "result" if m else "number"
    tail = {
        "sum": f"the sum of the {what}s (0 if there are none)",
        "count": "how many numbers were taken",
        "list": f"the {what}s as a list, in order",
        "max": f"the largest {what}, or {d} if there are none",
        "min": f"the smallest {what}, or {d} if there are none",
        "first": f"the first {what}, or {d} if there are none",
    }[agg]
    return f"{head}, and return {tail}."


def func_name(spec):
    words = [spec["agg"]]
    if spec["map"][0]:
        words.append(spec["map"][0])
    words += [f for f, _ in spec["filters"]]
    return "_".join(words)


def render(spec, style):
    """Solution lines (no indent) and the final answer expression, for one style."""
    cond, e, agg, d = cond_code(spec), expr_code(spec), spec["agg"], spec["default"]
    gen_if = f" if {cond}" if cond else ""
    if style == "comp":
        final = {"sum": f"sum({e} for x in xs{gen_if})", "count": f"sum(1 for x in xs{gen_if})",
                 "list": f"[{e} for x in xs{gen_if}]", "max": f"max(({e} for x in xs{gen_if}), default={d})",
                 "min": f"min(({e} for x in xs{gen_if}), default={d})",
                 "first": f"next(({e} for x in xs{gen_if}), {d})"}[agg]
        return [], final
    if style == "twostep":
        lines = [f"values = [{e} for x in xs{gen_if}]"]
        final = {"sum": "sum(values)", "count": "len(values)", "list": "values",
                 "max": f"max(values) if values else {d}", "min": f"min(values) if values else {d}",
                 "first": f"values[0] if values else {d}"}[agg]
        return lines, final
    # loop styles: "loop" is a for-each loop, "wrong_idiom" the index loop that skips xs[0]
    if style == "loop":
        head = ["for x in xs:"]
    else:
        head = ["n = len(xs)", "for i in range(1, n):", "    x = xs[i]"]
    body_indent = "        " if cond else "    "
    init = {"sum": "total = 0", "count": "count = 0", "list": "result = []", "max": "best = None",
            "min": "best = None", "first": f"answer = {d}"}[agg]
    update = {"sum": [f"total += {e}"], "count": ["count += 1"], "list": [f"result.append({e})"],
              "max": [f"y = {e}", "if best is None or y > best:", "    best = y"],
              "min": [f"y = {e}", "if best is None or y < best:", "    best = y"],
              "first": [f"answer = {e}", "break"]}[agg]
    final = {"sum": "total", "count": "count", "list": "result", "max": f"{d} if best is None else best",
             "min": f"{d} if best is None else best", "first": "answer"}[agg]
    lines = head[:1] + [init] + head[1:] if style == "wrong_idiom" else [init] + head
    if cond:
        lines.append(f"    if {cond}:")
    lines += [body_indent + u for u in update]
    return lines, final


def to_code(lines, final, test_style, agg):
    """Turn rendered lines into a function body (call) or a script tail (stdin)."""
    if test_style == "call":
        return "".join(f"    {ln}\n" for ln in lines) + f"    return {final}\n"
    out = f"print(*{final})" if agg == "list" else f"print({final})"
    return "".join(f"{ln}\n" for ln in lines) + out + "\n"


def make_prompt(spec, test_style):
    text = describe(spec)
    if test_style == "call":
        return f'def {func_name(spec)}(xs):\n    """{text}\n    """\n'
    text = text.replace("return", "print").replace("as a list, in order", "in order, separated by spaces")
    return f"# Read a list of integers xs from standard input, separated by spaces.\n# {text}\n{STDIN_LINE}"


STDIN_LINE = "import sys\nxs = [int(t) for t in sys.stdin.read().split()]\n"


# --- tests ----------------------------------------------------------------------------------
def run_code(prompt, code, test_style, entry, cases):
    """Run one rendered solution on each input in-process (our own, trusted code) -> answers."""
    if test_style == "call":
        env = {}
        exec(prompt + code, env)
        return [env[entry](list(xs)) for xs in cases]
    src = compile((prompt + code).replace(STDIN_LINE, "xs = list(XS)\n"), "<solution>", "exec")
    answers = []
    for xs in cases:
        out = []
        exec(src, {"XS": xs, "print": lambda *a: out.append(" ".join(map(str, a)))})
        answers.append(out[0] if out else None)
    return answers


def expected(spec, xs, test_style):
    r = reference(spec, xs)
    if test_style == "call":
        return r
    return " ".join(map(str, r)) if isinstance(r, list) else str(r)


def make_inputs(spec, rng):
    """Six inputs: empty, one whose first element matters, boundary values, random lists."""
    consts = [c for _, c in spec["filters"] if c is not None] or [3]
    cases = [[]]
    for _ in range(5):
        n = rng.randint(3, 8)
        xs = [rng.randint(-9, 20) for _ in range(n)]
        c = rng.choice(consts)
        xs[rng.randrange(n)] = c  # boundary value: separates > from >=, and off-by-one constants
        cases.append(xs)
    return cases


def fails(spec, prompt, code, test_style, entry, cases):
    try:
        got = run_code(prompt, code, test_style, entry, cases)
    except Exception:
        return True
    return got != [expected(spec, xs, test_style) for xs in cases]


def lead_input(spec, rng):
    """An input whose first element is kept and changes the answer (catches the skip-xs[0] idiom)."""
    for _ in range(200):
        xs = [rng.randint(-9, 20) for _ in range(rng.randint(3, 7))]
        if expected(spec, xs, "call") != expected(spec, xs[1:], "call"):
            return xs
    return None


def format_test(spec, cases, test_style, entry):
    if test_style == "stdin":
        return json.dumps([{"input": " ".join(map(str, xs)) + "\n", "output": expected(spec, xs, "stdin") + "\n"}
                           for xs in cases])
    asserts = "".join(f"    assert candidate({xs!r}) == {expected(spec, xs, 'call')!r}\n" for xs in cases)
    return f"def check(candidate):\n{asserts}"


# --- bugs: one realistic corrupted token ------------------------------------------------------
MUTATIONS = [
    ("flipped comparison", r"(?<=[\w)\]] )(>=|<=|>|<|==|!=)(?= )",
     lambda m, r: {">": ">=", ">=": ">", "<": "<=", "<=": "<", "==": "!=", "!=": "=="}[m]),
    ("off-by-one constant", r"(?<=[%*+\-<>=/] )\d+\b",
     lambda m, r: str(int(m) + r.choice([-1, 1]))),
    ("swapped operator", r"(?<= )(\*|\+|-|//|%)(?= )",
     lambda m, r: {"*": "+", "+": "*", "-": "+", "//": "%", "%": "//"}[m]),
    ("max/min swapped", r"\b(max|min)\(", lambda m, r: {"max(": "min(", "min(": "max("}[m]),
    ("sum/len swapped", r"\b(sum|len)\((?!xs)", lambda m, r: {"sum(": "len(", "len(": "sum("}[m]),
]


def mutate(code, rng):
    """Corrupt one token of `code`; None if no rule applies."""
    options = [(name, m, fn) for name, pat, fn in MUTATIONS for m in re.finditer(pat, code)]
    if not options:
        return None, None
    name, m, fn = rng.choice(options)
    return code[:m.start()] + fn(m.group(0), rng) + code[m.end():], name


# --- putting it together --------------------------------------------------------------------
def make_problem(comp, split, rng, args, stdin_share=0.3):
    """One problem dict; for pretraining also the (possibly buggy) training `solution`."""
    for _ in range(100):
        spec = make_spec(comp, rng)
        test_style = "stdin" if rng.random() < stdin_share else "call"
        entry = func_name(spec) if test_style == "call" else ""
        prompt = make_prompt(spec, test_style)
        lead = lead_input(spec, rng)
        if lead is None:
            continue  # e.g. a filter nothing can pass: draw other constants
        cases = make_inputs(spec, rng) + [lead]
        codes = {s: to_code(*render(spec, s), test_style, spec["agg"]) for s in STYLES + ["wrong_idiom"]}
        if any(fails(spec, prompt, codes[s], test_style, entry, cases) for s in STYLES):
            raise AssertionError(f"a correct style fails: {comp}")
        if fails(spec, prompt, codes["wrong_idiom"], test_style, entry, cases):
            break
    else:
        raise AssertionError(f"no usable constants for {comp}")
    p = {"task_id": None, "prompt": prompt, "entry_point": entry, "canonical_solution": codes["loop"],
         "test": format_test(spec, cases, test_style, entry), "difficulty": difficulty(comp),
         "test_style": test_style, "composition": composition_key(comp)}
    if split == "ssd":
        del p["canonical_solution"]  # SSD learns from its own samples only
    if split in ("pretrain", "val"):  # val = held-out problems of the training distribution
        style = "wrong_idiom" if rng.random() < args.idiom_rate else rng.choice(STYLES)
        code, bug = codes[style], None
        if rng.random() < args.bug_rate:
            for _ in range(20):
                bad, kind = mutate(code, rng)
                if bad and fails(spec, prompt, bad, test_style, entry, cases):
                    code, bug = bad, kind
                    break
        p.update(solution=code, style=style, bug=bug)
    return p


def composition_key(comp):
    filt, m, agg = comp
    return "+".join(list(filt) + [m or "id", agg])


def split_compositions(seed):
    comps = compositions()
    random.Random(seed).shuffle(comps)
    out, start = {}, 0
    for name, share in SPLIT_SHARES.items():
        n = round(share * len(comps)) if name != "test" else len(comps) - start
        out[name] = comps[start:start + n]
        start += n
    return out


def generate(args):
    splits = split_compositions(args.seed)
    sizes = {"pretrain": args.n_pretrain, "val": args.n_val, "ssd": args.n_ssd, "test": args.n_test}
    result = {}
    for i, (name, n) in enumerate(sizes.items()):
        rng = random.Random(f"{args.seed}-{name}")  # each split has its own stream
        pool = splits["pretrain" if name == "val" else name]
        by_diff = {d: [c for c in pool if difficulty(c) == d] for d in DIFFICULTY.values()}
        problems = []
        for j in range(n):
            comp = rng.choice(by_diff[list(DIFFICULTY.values())[j % 3]])  # equal thirds of difficulty
            p = make_problem(comp, name, rng, args)
            p["task_id"] = f"{name}/{j}"
            problems.append(p)
        result[name] = problems
    return result


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def ensure(folder, sizes, seed=1234):
    """Make sure `folder` holds a benchmark with these split sizes (default rates), else write it."""
    paths = {n: os.path.join(folder, f"{n}.jsonl") for n in sizes}
    if all(os.path.exists(p) and sum(1 for _ in open(p)) == sizes[n] for n, p in paths.items()):
        return
    print(f"generating a benchmark of {sizes} problems into {folder}")
    os.makedirs(folder, exist_ok=True)
    args = argparse.Namespace(seed=seed, bug_rate=BUG_RATE, idiom_rate=IDIOM_RATE, **{f"n_{n}": k for n, k in sizes.items()})
    for name, rows in generate(args).items():
        write_jsonl(paths[name], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--n_pretrain", type=int, default=6000)
    ap.add_argument("--n_val", type=int, default=300)
    ap.add_argument("--n_ssd", type=int, default=2000)
    ap.add_argument("--n_test", type=int, default=900)
    ap.add_argument("--bug_rate", type=float, default=BUG_RATE, help="share of training solutions with one bug")
    ap.add_argument("--idiom_rate", type=float, default=IDIOM_RATE,
                    help="share of training solutions using the wrong skip-xs[0] idiom")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    for name in ("bug_rate", "idiom_rate"):
        if not 0 <= getattr(args, name) <= 1:
            ap.error(f"--{name} must be in [0, 1]")
    os.makedirs(args.out, exist_ok=True)
    for name, rows in generate(args).items():
        write_jsonl(os.path.join(args.out, f"{name}.jsonl"), rows)
        print(f"{name:8s} {len(rows):5d} problems -> {os.path.join(args.out, name + '.jsonl')}")


if __name__ == "__main__":
    main()
