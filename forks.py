"""Forks and locks in a model, measured (the paper's Fig. 6): `python sample.py --show=forks`.

    python sample.py --show=forks --ckpt=out/base.pt --compare=out/ssd.pt --top_k=20 --top_p=0.95

Every test problem's correct solution is teacher-forced through each checkpoint; the entropy at
every position sorts it into locks (< LOCK_BITS under the first model) and forks (> FORK_BITS),
and the table and charts compare the models there. Kept out of sample.py so that it reads as the
sampling itself.
"""
import torch
import torch.nn.functional as F

from sample import FORK_BITS, LOCK_BITS, entropy_bits, process_logits


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
    from report import line_chart
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
