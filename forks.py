"""Forks and locks in a model, measured (the paper's Fig. 6).

    python forks.py --ckpt=out/base.pt --compare=out/ssd.pt --top_k=20 --top_p=0.95
    python forks.py --ckpt=out/base.pt --problems=100 --report=out/forks.json

Every test problem's correct solution is teacher-forced through each checkpoint; the entropy at
every position sorts it into locks (< LOCK_BITS under the first model: one right token) and forks
(> FORK_BITS: several good ones), and the table and charts compare the models there: how much
probability lies beyond the top token at locks, how wide forks are, and how many tokens survive
top-k / top-p as the evaluation temperature grows.
"""
import argparse
import json
import os

import torch
import torch.nn.functional as F

from data import DATA_DIR, number, read_jsonl, run_main, unwritable
from data.tokenizer import get_tokenizer
from model import load_model
from sample import entropy_bits, process_logits
from tables import line_chart

LOCK_BITS, FORK_BITS = 0.5, 1.5   # entropy below LOCK_BITS: one right token (a lock); above FORK_BITS: a fork


@torch.no_grad()                  # measurements only: no graph kept for the hundreds of forward passes
def show_forks(models, problems, args, enc):
    """Forks and locks in our own model (the paper's Fig. 6): teacher-force every model on the
    canonical solutions of `problems` (the same contexts for all), then compare per-position
    entropy, the tail beyond the top tokens at the base model's locks, and how many tokens
    survive top-k/top-p as the evaluation temperature grows."""
    dists = {name: [] for name in models}
    for p in problems:
        prompt, body = enc.encode(p["prompt"]), enc.encode(p["canonical_solution"]) + [enc.eot_token]
        x = torch.tensor([(prompt + body)[:-1]])
        for name, m in models.items():   # the distributions that predict the solution's tokens
            dists[name].append(F.log_softmax(m(x)[0][0, len(prompt) - 1:].float(), -1))
    logp = {name: torch.cat(d) for name, d in dists.items()}
    H = {name: entropy_bits(lp.exp()) for name, lp in logp.items()}
    base = next(iter(models))
    locks, forks = H[base] < LOCK_BITS, H[base] > FORK_BITS
    edges = [0, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 99]
    print(f"{len(problems)} problems, {len(H[base])} solution tokens; entropy per position (bits):")
    print("  bits       " + "".join(f"{n:<28}" for n in models))
    for lo, hi in zip(edges, edges[1:]):
        cells = [((h >= lo) & (h < hi)).float().mean().item() for h in H.values()]
        print(f"  {lo:>4}-{hi if hi < 99 else '':<4}  " + "".join(f"{c:6.1%} {'#' * round(40 * c):<21}" for c in cells))
    favourite = logp[base].argmax(-1, keepdim=True)   # the base model's most likely token at each position
    # A model trained for a few steps is near uniform everywhere: no locks, every position a fork
    # (or, overtrained on few problems, the opposite). A mean over no positions is None ("-").
    mean = lambda x: x.float().mean().item() if x.numel() else None
    out = {}
    for name, lp in logp.items():
        p = lp.exp()
        top = p.sort(-1, descending=True).values
        row = {"mean_entropy": H[name].mean().item(), "share_locks": (H[name] < LOCK_BITS).float().mean().item(),
               "share_forks": (H[name] > FORK_BITS).float().mean().item(),
               "tail_beyond_top1_at_locks": mean(1 - top[locks, 0]),
               "tail_beyond_top20_at_locks": mean(1 - top[locks, :20].sum(-1)),
               "fork_entropy": mean(H[name][forks]),
               "p_base_favourite_at_forks": mean(lp.gather(-1, favourite)[forks].exp())}
        for r in (1, 2, 3, 5, 10):
            row[f"top{r}_mass_at_forks"] = mean(top[forks, :r].sum(-1))
        for t in TEMPS_FORKS:
            final = process_logits(lp, t, args.top_k, args.top_p)
            kept, h = final > float("-inf"), entropy_bits(F.softmax(final, -1))
            for where, at in (("locks", locks), ("forks", forks)):
                row[f"kept_at_{where}_T{t:g}"] = mean(kept[at].sum(-1))
                row[f"entropy_at_{where}_T{t:g}"] = mean(h[at])
        out[name] = row
    print(f"\nlocks = positions where {base} has < {LOCK_BITS} bits ({locks.float().mean():.1%}), forks = > {FORK_BITS} bits "
          f"({forks.float().mean():.1%}); kept = tokens surviving top-k {args.top_k or 'off'} / top-p {args.top_p:g}")
    for where, at in (("locks", locks), ("forks", forks)):
        if not at.any():
            print(f"note: {base} has no {where} on these solutions (too little training?): the {where} rows are -")
    print("  " + " " * 30 + "".join(f"{n:>14}" for n in models))
    for key in out[base]:
        print(f"  {key:<30}" + "".join(f"{'-' if out[n][key] is None else f'{out[n][key]:.4f}':>14}" for n in models))
    fork_charts(out, models)
    return out


TEMPS_FORKS = (0.5, 0.7, 1.0, 1.3, 1.6)


def fork_charts(out, models):
    """The table's rows as the paper's Fig. 6 panels: probability mass of the top r tokens at forks
    against r, then tokens surviving truncation and entropy after it against T_eval."""
    names = list(models)[:2]
    curve = lambda n, key: [(t, out[n][key.format(t=f"{t:g}")]) for t in TEMPS_FORKS]

    def chart(series, **kw):   # a curve at positions the base model does not have (None) is left out
        series = {n: pts for n, pts in series.items() if None not in (y for _, y in pts)}
        return "\n".join(line_chart(series, **kw)) if series else f"(no chart of the {kw['ylabel']}: no such positions)"
    print("\nThe same as charts (the paper's Fig. 6):")
    print(chart({n: [(r, out[n][f"top{r}_mass_at_forks"]) for r in (1, 2, 3, 5, 10)] for n in names},
                height=8, xlabel="rank r", ylabel="probability of the top r tokens, at forks"))
    print(chart({n: curve(n, "kept_at_forks_T{t}") for n in names}, height=8, ylabel="tokens surviving truncation, at forks"))
    print(chart({f"{n} {w}": curve(n, f"entropy_at_{w}_T{{t}}") for w in ("forks", "locks") for n in names},
                height=8, ylabel="entropy after truncation, bits"))


def column_names(paths):
    """Short names for checkpoints: the file name, with its folder when two file names are the same
    (out/seed0/base.pt vs out/seed1/base.pt -> seed0/base, seed1/base)."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(p))), s) for p, s in zip(paths, stems)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="out/base.pt", help="the model whose entropies define locks and forks")
    ap.add_argument("--compare", help="a second checkpoint, measured at the same positions (e.g. out/ssd.pt)")
    ap.add_argument("--problems", type=number(int, 0), default=450, help="how many test problems")
    ap.add_argument("--top_k", type=number(int, 0, strict=False), default=0, help="truncation for the 'kept' rows")
    ap.add_argument("--top_p", type=number(float, 0, high=1), default=1.0)
    ap.add_argument("--report", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    if args.report and unwritable(args.report):
        ap.error(f"--report={args.report}: {unwritable(args.report)}")
    paths = [args.ckpt] + ([args.compare] if args.compare else [])
    models = dict(zip(column_names(paths), [load_model(p)[0] for p in paths]))
    out = show_forks(models, read_jsonl(f"{DATA_DIR}/test.jsonl")[:args.problems], args, get_tokenizer())
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"settings": {k: getattr(args, k) for k in ("ckpt", "compare", "problems", "top_k", "top_p")},
                       **out}, f, indent=1)
    return out


if __name__ == "__main__":
    run_main(main)
