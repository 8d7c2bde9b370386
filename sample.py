"""The sampling lab: how one token is drawn from the LM head's distribution.

    python sample.py --ckpt=out/base.pt --task=test/0 --temperature=0.8 --num_samples=3
    python sample.py --ckpt=out/base.pt --prompt='def add_one(xs):\\n    return'
    python sample.py --ckpt=out/base.pt --task=test/0 --show=dist --position=0
    python sample.py --ckpt=out/base.pt --task=test/0 --show=entropy

From logits to a token, in this order (the order vLLM uses and the paper assumes):
  1. temperature  logits / T; T = 0 means greedy (argmax), with no division at all
  2. top-k        keep the k largest tempered logits (ties at the k-th value are all kept)
  3. top-p        of what is left, keep the smallest set of most likely tokens whose mass
                  reaches p; the token that crosses p is kept, and at least one token always is
  4. min-p        drop tokens whose probability is below min_p x the top probability
  5. softmax of what survives, then one draw
k = 0, p = 1 and min_p = 0 switch truncation off. Entropies are in bits. generate() prefills
the prompts once and then decodes with a KV cache; each row of a batch is an independent sample.
sample_completions() draws n completions for each of many problems in batches: the SSD samples
(train.py) and the evaluator's samples (evaluate.py) both come from it.
"""
import argparse
import math
import sys

import torch
import torch.nn.functional as F
from tqdm import tqdm

from data import DATA_DIR, number, read_jsonl, run_main
from data.tokenizer import get_tokenizer
from model import KVCache, load_model


# --- the transforms: each takes logits (..., V) and returns logits, -inf where a token is cut --
def check_params(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0):
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    if top_k < 0 or int(top_k) != top_k:
        raise ValueError(f"top_k must be a whole number >= 0 (0 = off), got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1 = off), got {top_p}")
    if not 0 <= min_p <= 1:
        raise ValueError(f"min_p must be in [0, 1] (0 = off), got {min_p}")


def apply_temperature(logits, temperature):
    """logits / T. T = 0 is the limit T -> 0: all mass on the argmax (the first one on a tie)."""
    if temperature == 0:
        out = torch.full_like(logits, float("-inf"))
        return out.scatter(-1, logits.argmax(-1, keepdim=True), 0.0)
    return logits / temperature


def top_k_filter(logits, k):
    """Keep the k largest logits; every token tied with the k-th value survives too."""
    if k == 0 or k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits, p):
    """Nucleus: keep the most likely tokens until their mass reaches p (the crossing token
    is kept). A token is cut when the mass of the tokens ranked above it already reaches p,
    so the top token is never cut."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = F.softmax(sorted_logits, dim=-1)
    mass_above = torch.cumsum(probs, dim=-1) - probs
    cut_sorted = mass_above >= p
    cut = torch.zeros_like(cut_sorted).scatter(-1, order, cut_sorted)
    return logits.masked_fill(cut, float("-inf"))


def min_p_filter(logits, min_p):
    """Keep tokens with probability >= min_p * (top probability)."""
    if min_p == 0:
        return logits
    probs = F.softmax(logits, dim=-1)
    return logits.masked_fill(probs < min_p * probs.max(dim=-1, keepdim=True).values, float("-inf"))


def process_logits(logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0):
    """Raw logits -> final logits, in the documented order."""
    logits = apply_temperature(logits.to(torch.promote_types(logits.dtype, torch.float32)), temperature)
    return min_p_filter(top_p_filter(top_k_filter(logits, top_k), top_p), min_p)


def entropy_bits(probs):
    """Shannon entropy in bits along the last axis (0 * log 0 counts as 0)."""
    logp = torch.log2(probs.clamp_min(1e-45))
    return -(probs * logp).where(probs > 0, torch.zeros_like(probs)).sum(-1)


def draw(probs, generator=None):
    """One index per row with probability probs[row, index], by inverting the CDF: a uniform
    u in [0, total mass) lands in exactly one token's interval of the running sum. A token with
    p = 0 has an empty interval and can never be drawn. (Much faster than torch.multinomial.)"""
    cdf = probs.cumsum(-1)
    u = torch.rand(cdf.shape[:-1] + (1,), generator=generator, device=probs.device, dtype=cdf.dtype)
    return torch.searchsorted(cdf, u * cdf[..., -1:], right=True).squeeze(-1).clamp_(max=probs.size(-1) - 1)


def sample_next(logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, generator=None):
    """One token per row. Greedy takes the argmax and uses no randomness."""
    if temperature == 0:
        return logits.argmax(-1)
    return draw(F.softmax(process_logits(logits, temperature, top_k, top_p, min_p), dim=-1), generator)


def token_stats(logits, final_logits, tokens):
    """Per row: entropy and log-prob (bits, log base e) of the chosen token under the raw
    distribution (T = 1, no truncation) and under the final one that was sampled from."""
    raw_lp = F.log_softmax(logits.float(), -1)
    fin_lp = F.log_softmax(final_logits, -1)
    pick = tokens[:, None]
    return torch.stack([entropy_bits(raw_lp.exp()), raw_lp.gather(-1, pick)[:, 0],
                        entropy_bits(fin_lp.exp()), fin_lp.gather(-1, pick)[:, 0]], dim=1)


# --- generation -----------------------------------------------------------------------------
@torch.no_grad()
def generate(model, prompts, n=1, max_new_tokens=128, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0,
             generator=None, use_cache=True, return_stats=False, stop_at_eot=True):
    """Complete each prompt (a list of token ids) n times.

    Returns completions (lists of ids, without <|endoftext|>) in prompt-major order:
    [p0 s0, p0 s1, ..., p1 s0, ...]; with return_stats, also one (len, 4) tensor per completion
    (raw entropy, raw logprob, final entropy, final logprob per token; see token_stats).
    A row stops at <|endoftext|> or after max_new_tokens (or at the model's block_size);
    stop_at_eot=False makes every row run to the limit (for timing).
    """
    check_params(temperature, top_k, top_p, min_p)
    device = next(model.parameters()).device
    eot = get_tokenizer().eot_token
    P, Tp = len(prompts), max(len(p) for p in prompts)
    max_new_tokens = min(max_new_tokens, model.cfg.block_size - Tp)
    # left-pad so every prompt ends at the same column; padding is masked out of attention
    ids = torch.full((P, Tp), eot, dtype=torch.long, device=device)
    key_mask = torch.zeros((P, Tp), dtype=torch.bool, device=device)
    for i, p in enumerate(prompts):
        ids[i, Tp - len(p):] = torch.tensor(p, device=device)
        key_mask[i, Tp - len(p):] = True
    pos = (key_mask.cumsum(1) - 1).clamp(min=0)      # position ids restart at each real prompt
    cache = KVCache(model.cfg, key_mask, max_new_tokens) if use_cache else None
    logits = model(ids, cache=cache, key_mask=key_mask, pos=pos, last_only=True)[0][:, -1]   # prefill, once
    # each prompt's state becomes n independent rows (the cache keeps one copy of the prompt)
    rows = torch.arange(P, device=device).repeat_interleave(n)
    logits, key_mask, pos, ids = logits[rows], key_mask[rows], pos[rows], ids[rows]
    if cache is not None:
        cache.select(rows)
    active = torch.arange(P * n, device=device)      # which output row each batch row is
    done = torch.zeros(P * n, dtype=torch.bool, device=device)
    out = [[] for _ in range(P * n)]
    stats = [[] for _ in range(P * n)]
    for step in range(max_new_tokens):
        tok = sample_next(logits, temperature, top_k, top_p, min_p, generator)
        if return_stats:
            st = token_stats(logits, process_logits(logits, temperature, top_k, top_p, min_p), tok)
        for j, (row, t, d) in enumerate(zip(active.tolist(), tok.tolist(), done.tolist())):
            if not d and (t != eot or not stop_at_eot):
                out[row].append(t)
                if return_stats:
                    stats[row].append(st[j])
        if stop_at_eot:
            done |= tok == eot
        if done.all() or step == max_new_tokens - 1:
            break
        if done.sum() * 2 >= len(done):  # drop finished rows once they are half the batch (a copy)
            keep = ~done
            active, done, tok, key_mask, pos, ids = (t[keep] for t in (active, done, tok, key_mask, pos, ids))
            if cache is not None:
                cache.select(keep)
        pos = torch.cat([pos, pos[:, -1:] + 1], dim=1)
        if cache is not None:   # one new token per row through the cached model
            logits = model(tok[:, None], cache=cache, pos=pos[:, -1:])[0][:, -1]
        else:                   # no cache: run the whole sequence again (for comparison)
            key_mask = torch.cat([key_mask, torch.ones_like(key_mask[:, :1])], dim=1)
            ids = torch.cat([ids, tok[:, None]], dim=1)
            logits = model(ids, key_mask=key_mask, pos=pos, last_only=True)[0][:, -1]
    if return_stats:
        return out, [torch.stack(s) if s else torch.zeros(0, 4) for s in stats]
    return out


def sample_completions(model, problems, temperature, n, top_k=0, top_p=1.0, min_p=0.0, seed=0,
                       batch_size=256, max_new_tokens=128, progress=True):
    """n completions per problem as [{task_id, completion, tokens}], problem-major (tokens: the
    sampled ids, which re-encoding the text need not reproduce). Prompts of similar length share
    a batch of ~batch_size rows; greedy (T = 0) is generated once and copied. Only each
    problem's task_id and prompt are read."""
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


# --- the terminal views ---------------------------------------------------------------------
def bar_chart(probs, enc, top=8, width=40):
    """Lines of 'token  p  ####' for the most likely tokens."""
    p, idx = torch.sort(probs, descending=True)
    lines = []
    for pi, ti in zip(p[:top].tolist(), idx[:top].tolist()):
        if pi <= 0:
            break
        lines.append(f"  {enc.decode([ti])!r:>14} {pi:6.3f} {'#' * max(1, round(pi * width))}")
    rest = p[top:].sum().item()
    kept = int((p > 0).sum())
    lines.append(f"  {'(the rest)':>14} {rest:6.3f}   {kept} tokens have p > 0")
    return lines


def show_dist(model, prompt_ids, completion, args, enc):
    """The distribution at one position of the completion, stage by stage."""
    k = min(args.position, len(completion))
    ctx = torch.tensor([prompt_ids + completion[:k]])
    logits = model(ctx)[0][0, -1].float()
    print(f"context ends with: {enc.decode(ctx[0, -12:].tolist())!r}")
    print(f"position {k} of the completion; actual token there: "
          f"{enc.decode(completion[k:k + 1]) if k < len(completion) else '<|endoftext|>'!r}\n")
    stages = [("raw (T = 1)", logits), (f"temperature {args.temperature}", apply_temperature(logits, args.temperature))]
    if args.top_k > 0:                                 # only the stages that are switched on
        stages.append((f"top-k {args.top_k}", top_k_filter(stages[-1][1], args.top_k)))
    if args.top_p < 1:
        stages.append((f"top-p {args.top_p}", top_p_filter(stages[-1][1], args.top_p)))
    if args.min_p > 0:
        stages.append((f"min-p {args.min_p}", min_p_filter(stages[-1][1], args.min_p)))
    for name, lg in stages:
        probs = F.softmax(lg, -1)
        print(f"{name}: entropy {entropy_bits(probs).item() + 0.0:.2f} bits")   # + 0.0: no "-0.00"
        print("\n".join(bar_chart(probs, enc)) + "\n")


def show_entropy(completion, stats, enc, color):
    """The completion with each token coloured by the entropy of the raw distribution it was
    drawn from: forks (many good options) glow red, locks (one right token) stay blue."""
    scale = [(0.1, 27), (0.5, 39), (1.0, 220), (2.0, 208), (99, 196)]  # bits -> 256-colour code
    pieces = []
    for t, st in zip(completion, stats):
        text, h = enc.decode([t]), st[0].item()
        if color:
            code = next(c for lim, c in scale if h < lim)
            pieces.append(f"\x1b[38;5;{code}m{text}\x1b[0m")
        else:
            pieces.append(text if h < 0.5 else f"{text}\u27e8{h:.1f}\u27e9")
    print("".join(pieces))
    if color:
        print("entropy: " + " ".join(f"\x1b[38;5;{c}m<{lim}\x1b[0m" for lim, c in scale[:-1]) + " \x1b[38;5;196m>=2\x1b[0m bits")
    else:
        print("(plain text: tokens with entropy >= 0.5 bits are followed by \u27e8bits\u27e9)")


def prompt_from_args(args):
    if args.prompt is not None:
        try:
            return args.prompt.encode().decode("unicode_escape")  # allow '\n' on the command line
        except UnicodeDecodeError as e:
            raise SystemExit(f"error: --prompt has a broken escape sequence ({e.reason})")
    split, _, num = args.task.partition("/")
    if split not in ("pretrain", "val", "ssd", "test"):
        raise SystemExit(f"error: --task={args.task}: the split must be pretrain, val, ssd or test (e.g. test/3)")
    rows = read_jsonl(f"{DATA_DIR}/{split}.jsonl", required=("prompt",))
    match = [r for r in rows if r["task_id"] == args.task]
    if not match:
        raise SystemExit(f"error: no task {args.task!r} in {DATA_DIR}/{split}.jsonl")
    return match[0]["prompt"]


def main(argv=None):
    positive, non_negative = number(int, 0), number(int, 0, strict=False)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="out/base.pt")
    ap.add_argument("--prompt", help="prompt text ('\\n' escapes allowed); default: --task")
    ap.add_argument("--task", default="test/0", help="a task_id of data/{pretrain,val,ssd,test}.jsonl")
    ap.add_argument("--temperature", type=number(float, 0, strict=False), default=1.0)
    ap.add_argument("--top_k", type=non_negative, default=0)
    ap.add_argument("--top_p", type=number(float, 0, high=1), default=1.0)
    ap.add_argument("--min_p", type=number(float, 0, strict=False, high=1), default=0.0)
    ap.add_argument("--num_samples", type=positive, default=1)
    ap.add_argument("--max_new_tokens", type=positive, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", choices=["text", "dist", "entropy"], default="text",
                    help="dist: the distribution at --position through each stage; entropy: each token's entropy "
                    "(forks and locks over a whole test split: python forks.py)")
    ap.add_argument("--position", type=non_negative, default=0, help="--show=dist: which completion token")
    ap.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    args = ap.parse_args(argv)
    enc = get_tokenizer()
    prompt = prompt_from_args(args)
    if not prompt.strip():
        ap.error("the prompt is empty: give --prompt=TEXT or --task=SPLIT/N")
    model, _ = load_model(args.ckpt)
    prompt_ids = enc.encode(prompt)
    if len(prompt_ids) >= model.cfg.block_size:
        ap.error(f"the prompt is {len(prompt_ids)} tokens: the model sees at most {model.cfg.block_size}, "
                 "prompt and completion together")
    g = torch.Generator().manual_seed(args.seed)
    kw = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
              top_p=args.top_p, min_p=args.min_p, generator=g)
    outs, stats = generate(model, [prompt_ids], n=args.num_samples, return_stats=True, **kw)
    print(prompt, end="")
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    for i, (c, st) in enumerate(zip(outs, stats)):
        if args.num_samples > 1:
            print(f"--- sample {i} ---")
        if args.show == "entropy":
            show_entropy(c, st, enc, color)
        else:
            print(enc.decode(c))
    if args.show == "dist":
        print("=" * 60)
        show_dist(model, prompt_ids, outs[0], args, enc)


if __name__ == "__main__":
    run_main(main)
