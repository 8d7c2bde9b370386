"""Pretrain a tiny code GPT from scratch, then improve it with simple self-distillation (SSD).

    python train.py                       # the whole demo: pretrain -> SSD data -> SSD fine-tune
                                          #   -> evaluate base vs SSD over temperatures -> report
    python train.py --stage=pretrain      # only the base model -> out/base.pt
    python train.py --resume              # continue pretraining from out/base.pt after a kill
    python train.py --ssd_temperature=1.0 --ssd_top_k=0 --ssd_top_p=1.0 --out_dir=out/fixed_point
    python train.py --device=cuda         # bf16 autocast on a GPU; see --help for every setting

Pretraining: each sequence is prompt + solution + <|endoftext|>, tokenized as two parts exactly
as sample.py sees them. AdamW with warmup and cosine decay, gradient clipping, a validation loss
on data/val.jsonl, atomic checkpoints (temp file + rename: a kill never leaves a broken one) with
model, optimizer, config, step and RNG states. Batches are a pure function of (seed, step), so
--resume continues exactly. A finished base.pt made with the same settings and data is reused.

SSD (the paper's method): from the frozen base, draw ONE completion per SSD prompt with
(T_train, top-k, top-p); keep every non-empty one, right or wrong (no verifier, no tests run);
then fine-tune the base on (prompt, completion) with the loss on completion tokens only.
The SSD prompts come without solutions, and this stage reads nothing but their prompt text.
"""
import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import resource
import sys
import time

import torch
from tqdm import tqdm

import evaluate
from data import DATA_DIR, read_jsonl
from data.tokenizer import get_tokenizer
from model import GPT, GPTConfig, load_model
from sample import check_params


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help keeps the docstring's layout and shows every default."""


def get_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    a = ap.add_argument
    a("--stage", default="all", choices=["all", "pretrain", "ssd", "eval"],
      help="all = the demo; ssd = SSD data + fine-tune from out_dir/base.pt; eval = report only")
    a("--out_dir", default="out", help="where checkpoints, samples and reports go")
    a("--data_dir", default=DATA_DIR, help="folder with pretrain/val/ssd/test.jsonl")
    a("--device", default="cpu", choices=["cpu", "cuda"])
    a("--seed", type=int, default=0, help="seeds pretraining, SSD sampling and fine-tuning")
    a("--resume", action="store_true", help="continue pretraining from out_dir/base.pt")
    g = ap.add_argument_group("model")
    g.add_argument("--n_layer", type=int, default=4)
    g.add_argument("--n_head", type=int, default=4)
    g.add_argument("--n_embd", type=int, default=128)
    g.add_argument("--block_size", type=int, default=256)
    g.add_argument("--dropout", type=float, default=0.0)
    g = ap.add_argument_group("pretraining")
    g.add_argument("--batch_size", type=int, default=32, help="sequences per step")
    g.add_argument("--max_steps", type=int, default=1500)
    g.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    g.add_argument("--min_lr_ratio", type=float, default=0.1, help="final lr = lr * min_lr_ratio")
    g.add_argument("--warmup_steps", type=int, default=100)
    g.add_argument("--weight_decay", type=float, default=0.1)
    g.add_argument("--grad_clip", type=float, default=1.0, help="max gradient norm (0 = off)")
    g.add_argument("--eval_interval", type=int, default=250, help="steps between validation losses")
    g.add_argument("--ckpt_interval", type=int, default=250)
    g = ap.add_argument_group("SSD")
    g.add_argument("--ssd_temperature", type=float, default=1.6, help="T_train")
    g.add_argument("--ssd_top_k", type=int, default=20, help="0 = off")
    g.add_argument("--ssd_top_p", type=float, default=0.8, help="1 = off")
    g.add_argument("--ssd_prompts", type=int, default=0, help="how many SSD prompts (0 = all)")
    g.add_argument("--ssd_epochs", type=float, default=1.0)
    g.add_argument("--ssd_lr", type=float, default=1e-4)
    g.add_argument("--ssd_batch_size", type=int, default=32)
    g = ap.add_argument_group("evaluation (test split)")
    g.add_argument("--eval_temperatures", default="0,0.3,0.6,0.9,1.2", help="comma-separated")
    g.add_argument("--eval_n", type=int, default=5, help="samples per problem and temperature")
    g.add_argument("--eval_top_k", type=int, default=0)
    g.add_argument("--eval_top_p", type=float, default=1.0)
    g.add_argument("--eval_problems", type=int, default=0, help="first N test problems (0 = all)")
    g.add_argument("--full_sweep", action="store_true", help="T = 0, 0.2, ..., 1.2 with n = 10 (slower)")
    args = ap.parse_args(argv)
    if args.full_sweep:
        args.eval_temperatures, args.eval_n = "0,0.2,0.4,0.6,0.8,1.0,1.2", 10
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_steps", "eval_interval",
                 "ckpt_interval", "ssd_batch_size", "eval_n"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    for name in ("warmup_steps", "ssd_prompts", "eval_problems", "weight_decay", "grad_clip", "ssd_epochs"):
        if getattr(args, name) < 0:
            ap.error(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.lr <= 0 or args.ssd_lr <= 0 or not 0 <= args.min_lr_ratio <= 1 or not 0 <= args.dropout < 1:
        ap.error("need --lr > 0, --ssd_lr > 0, 0 <= --min_lr_ratio <= 1 and 0 <= --dropout < 1")
    if args.n_embd % args.n_head:
        ap.error(f"--n_embd ({args.n_embd}) must be a multiple of --n_head ({args.n_head})")
    try:
        args.eval_temperatures = [float(t) for t in str(args.eval_temperatures).split(",")]
        check_params(args.ssd_temperature, args.ssd_top_k, args.ssd_top_p)
        for t in args.eval_temperatures:
            check_params(t, args.eval_top_k, args.eval_top_p)
    except ValueError as e:
        ap.error(str(e) if "must" in str(e) else "--eval_temperatures takes comma-separated numbers")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device=cuda but no CUDA device is available")
    return args


# --- data -----------------------------------------------------------------------------------
def encode_pairs(problems, field):
    """(prompt ids, response ids + <|endoftext|>) per problem, the two parts tokenized apart."""
    enc = get_tokenizer()
    return [(enc.encode(p["prompt"]), enc.encode(p[field]) + [enc.eot_token]) for p in problems]


def collate(pairs, block_size, prompt_loss=True):
    """Right-padded inputs x and next-token targets y; y = -1 where no loss is taken:
    padding and, when prompt_loss is False (SFT), every target that is a prompt token."""
    eot = get_tokenizer().eot_token
    seqs = [(p + r)[:block_size + 1] for p, r in pairs]
    T = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), T), eot, dtype=torch.long)
    y = torch.full((len(seqs), T), -1, dtype=torch.long)
    for i, (s, (p, _)) in enumerate(zip(seqs, pairs)):
        x[i, :len(s) - 1] = torch.tensor(s[:-1])
        y[i, :len(s) - 1] = torch.tensor(s[1:])
        if not prompt_loss:
            y[i, :len(p) - 1] = -1   # target j is token j+1: the response starts at len(p)
    return x, y


def batch_indices(step, lengths, batch_size, seed):
    """The examples of one step, a pure function of (seed, step): each epoch is a seeded
    permutation, cut into batches of similar lengths (less padding), in shuffled order."""
    n = len(lengths)
    per_epoch = max(1, n // batch_size)
    g = torch.Generator().manual_seed(seed * 100_003 + step // per_epoch)
    perm = torch.randperm(n, generator=g)[:per_epoch * batch_size].tolist()
    chunk = 16 * batch_size  # sort by length inside chunks of 16 batches
    perm = [i for c in range(0, len(perm), chunk) for i in sorted(perm[c:c + chunk], key=lambda i: lengths[i])]
    batches = [perm[b * batch_size:(b + 1) * batch_size] for b in range(per_epoch)]
    order = torch.randperm(per_epoch, generator=g).tolist()
    return batches[order[step % per_epoch]]


# --- optimisation ---------------------------------------------------------------------------
def lr_at(step, args):
    """Linear warmup, then cosine decay from lr to lr * min_lr_ratio."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    frac = (step - args.warmup_steps) / max(1, args.max_steps - args.warmup_steps)
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def make_optimizer(model, args):
    # decay the matrices, not the LayerNorm gains and biases
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))


def autocast(device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else contextlib.nullcontext()


@torch.no_grad()
def val_loss(model, pairs, args, prompt_loss=True):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(pairs), 64):
        x, y = (t.to(args.device) for t in collate(pairs[i:i + 64], args.block_size, prompt_loss))
        with autocast(args.device):
            _, loss = model(x, y)
        n = (y != -1).sum().item()
        total, count = total + loss.item() * n, count + n
    model.train()
    return total / max(count, 1)


# --- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(path, model, opt, step, args, history, fingerprint=None):
    """Write to a temp file, flush it to disk, then rename: the old file stays intact until
    the new one is complete, so a kill at any moment leaves a loadable checkpoint."""
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "config": vars(model.cfg),
             "args": vars(args), "step": step, "history": history, "fingerprint": fingerprint,
             "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}}
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- the training loop (pretraining and the SSD fine-tune) ---------------------------------
def train(args, pairs, val_pairs, ckpt_path, prompt_loss=True, init_state=None, fingerprint=None):
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    cfg = GPTConfig(vocab_size=get_tokenizer().n_vocab, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    model = GPT(cfg).to(args.device)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = make_optimizer(model, args)
    step, history = 0, []
    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=args.device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history = ckpt["step"], ckpt["history"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        random.setstate(ckpt["rng"]["python"])
        print(f"resuming {ckpt_path} at step {step}/{args.max_steps}")
    print(f"model: {model.num_params() / 1e6:.2f}M parameters; {len(pairs)} training sequences")
    lengths = [len(p) + len(r) for p, r in pairs]
    bar = tqdm(range(step, args.max_steps), initial=step, total=args.max_steps, dynamic_ncols=True)
    t0, tokens, vl = time.time(), 0, float("nan")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        x, y = collate([pairs[i] for i in batch_indices(step, lengths, args.batch_size, args.seed)],
                       args.block_size, prompt_loss)
        x, y = x.to(args.device), y.to(args.device)
        with autocast(args.device):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        tokens += x.numel()
        done = step + 1
        if done % args.eval_interval == 0 or done == args.max_steps:
            vl = val_loss(model, val_pairs, args, prompt_loss)
            history.append({"step": done, "train_loss": loss.item(), "val_loss": vl})
            bar.write(f"step {done}: train loss {loss.item():.4f}, val loss {vl:.4f}")
        if done % args.ckpt_interval == 0 or done == args.max_steps:
            save_checkpoint(ckpt_path, model, opt, done, args, history, fingerprint)
        bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{vl:.3f}", tok_s=f"{tokens / (time.time() - t0):.0f}")
    bar.close()
    return model.eval()


# --- the stages -----------------------------------------------------------------------------
PRETRAIN_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "batch_size", "max_steps", "lr",
                 "min_lr_ratio", "warmup_steps", "weight_decay", "grad_clip", "seed")


def fingerprint(args):
    """What a base model depends on: its settings and the bytes of its data and tokenizer."""
    h = hashlib.sha256()
    for name in ("pretrain.jsonl", "val.jsonl"):
        with open(os.path.join(args.data_dir, name), "rb") as f:
            h.update(f.read())
    with open(os.path.join(DATA_DIR, "tokenizer.bpe"), "rb") as f:
        h.update(f.read())
    return {**{k: getattr(args, k) for k in PRETRAIN_KEYS}, "data": h.hexdigest()[:16]}


def pretrain(args):
    path = os.path.join(args.out_dir, "base.pt")
    want = fingerprint(args)
    if os.path.exists(path) and not args.resume:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if ckpt.get("fingerprint") == want and ckpt["step"] == args.max_steps:
            print(f"reusing {path}: finished, same settings and data")
            return load_model(path, args.device)[0]
        print(f"{path} was made with other settings or is unfinished (--resume continues it): retraining")
    rows = read_jsonl(os.path.join(args.data_dir, "pretrain.jsonl"), required=("prompt", "solution"))
    val = read_jsonl(os.path.join(args.data_dir, "val.jsonl"), required=("prompt", "solution"))
    return train(args, encode_pairs(rows, "solution"), encode_pairs(val, "solution"), path, fingerprint=want)


def would_compile(prompt, completion):
    try:
        compile(prompt + completion, "<sample>", "exec")
        return True
    except (SyntaxError, ValueError):
        return False


def ssd_data(args, base):
    """One sample per SSD prompt from the frozen base. Only the prompt text is read; nothing is
    filtered but empty completions. Whether a sample would pass is measured for the reader."""
    rows = read_jsonl(os.path.join(args.data_dir, "ssd.jsonl"), required=("task_id", "prompt"))
    rows = rows[:args.ssd_prompts or None]
    prompts = [{"task_id": r["task_id"], "prompt": r["prompt"]} for r in rows]   # no solutions, ever
    samples = evaluate.sample_completions(base, prompts, args.ssd_temperature, 1, top_k=args.ssd_top_k,
                                          top_p=args.ssd_top_p, seed=args.seed, max_new_tokens=args.block_size)
    kept = [dict(s, prompt=p["prompt"]) for s, p in zip(samples, prompts) if s["completion"].strip()]
    enc = get_tokenizer()
    passed = evaluate.judge(rows, samples, progress=True)     # for the reader only: never used below
    stats = {"prompts": len(rows), "kept": len(kept), "share_empty": 1 - len(kept) / len(rows),
             "share_no_valid_code": sum(not would_compile(p["prompt"], s["completion"])
                                        for s, p in zip(samples, prompts)) / len(rows),
             "mean_tokens": sum(len(enc.encode(s["completion"])) for s in samples) / len(rows),
             "share_would_pass": sum(r["passed"] for r in passed) / len(rows)}
    with open(os.path.join(args.out_dir, "ssd_samples.jsonl"), "w") as f:
        f.writelines(json.dumps(k) + "\n" for k in kept)
    print("SSD data: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()))
    return kept, stats


def ssd_finetune(args, base, kept):
    """Plain SFT of the base on its own samples, loss on the completion tokens only."""
    enc = get_tokenizer()
    pairs = [(enc.encode(k["prompt"]), enc.encode(k["completion"]) + [enc.eot_token]) for k in kept]
    val = read_jsonl(os.path.join(args.data_dir, "val.jsonl"), required=("prompt", "canonical_solution"))
    steps = max(1, math.ceil(args.ssd_epochs * len(pairs) / args.ssd_batch_size))
    sft = argparse.Namespace(**{**vars(args), "lr": args.ssd_lr, "batch_size": args.ssd_batch_size,
                                "max_steps": steps, "warmup_steps": min(args.warmup_steps, steps // 10),
                                "eval_interval": steps, "ckpt_interval": steps, "resume": False})
    # the validation loss here: how likely the model finds correct (canonical) solutions
    return train(sft, pairs, encode_pairs(val, "canonical_solution"), os.path.join(args.out_dir, "ssd.pt"),
                 prompt_loss=False, init_state=base.state_dict())


def report(args, models, ssd_stats=None):
    """Sweep T for each model on the same problems and seeds; print and save the tables."""
    problems = read_jsonl(os.path.join(args.data_dir, "test.jsonl"), required=("task_id", "prompt", "test"))
    problems = problems[:args.eval_problems or None]
    kw = dict(top_k=args.eval_top_k, top_p=args.eval_top_p, seed=args.seed, max_new_tokens=args.block_size)
    res = {name: [{"temperature": r["temperature"], **{k: v for k, v in r["summary"].items() if k != "per_problem"}}
                  for r in evaluate.sweep(m, problems, args.eval_temperatures, args.eval_n, **kw)]
           for name, m in models.items()}
    best = {name: max(rs, key=lambda r: r["pass@1"]) for name, rs in res.items()}
    names = list(models)
    lines = [f"pass@1 on {len(problems)} test problems, n = {args.eval_n} per temperature, "
             f"eval top-k {args.eval_top_k or 'off'}, top-p {args.eval_top_p:g} (* = each model's best T)", "",
             "| T | " + " | ".join(f"{n} pass@1 | {n} pass@5" for n in names) + " |",
             "|---|" + "---|---|" * len(names)]
    for i, t in enumerate(args.eval_temperatures):
        cells = []
        for n in names:
            r = res[n][i]
            star = "*" if r is best[n] else ""
            cells += [f"{r['pass@1']:.3f}{star}", f"{r.get('pass@5', float('nan')):.3f}"]
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    lines += ["", "At each model's best temperature, by difficulty (pass@1 / pass@5):", "",
              "| model | best T | all | " + " | ".join(best[names[0]]["by_difficulty"]) + " |",
              "|---|---|---|" + "---|" * len(best[names[0]]["by_difficulty"])]
    for n in names:
        b = best[n]
        cells = [f"{d['pass@1']:.3f} / {d.get('pass@5', float('nan')):.3f}" for d in b["by_difficulty"].values()]
        lines.append(f"| {n} | {b['temperature']:g} | {b['pass@1']:.3f} / {b.get('pass@5', float('nan')):.3f} | "
                     + " | ".join(cells) + " |")
    if len(names) == 2:
        lines += ["", f"best-vs-best pass@1: {names[1]} {best[names[1]]['pass@1']:.3f} - {names[0]} "
                      f"{best[names[0]]['pass@1']:.3f} = {100 * (best[names[1]]['pass@1'] - best[names[0]]['pass@1']):+.1f} pp"]
    text = "\n".join(lines)
    print("\n" + text)
    with open(os.path.join(args.out_dir, "report.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out_dir, "report.json"), "w") as f:
        json.dump({"args": vars(args), "ssd_data": ssd_stats, "sweeps": res,
                   "best": {n: {"temperature": b["temperature"], "pass@1": b["pass@1"]} for n, b in best.items()}},
                  f, indent=1)
    return res


def main(argv=None):
    args = get_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    t0 = time.time()
    base = pretrain(args) if args.stage in ("all", "pretrain") else load_model(os.path.join(args.out_dir, "base.pt"), args.device)[0]
    print(f"[{time.time() - t0:.0f} s] base model ready")
    if args.stage == "pretrain":
        return
    stats = None
    if args.stage in ("all", "ssd"):
        kept, stats = ssd_data(args, base)
        print(f"[{time.time() - t0:.0f} s] SSD data ready")
        student = ssd_finetune(args, base, kept)
    else:
        student = load_model(os.path.join(args.out_dir, "ssd.pt"), args.device)[0]
    print(f"[{time.time() - t0:.0f} s] SSD model ready")
    report(args, {"base": base, "SSD": student}, stats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"[{time.time() - t0:.0f} s] done; peak memory of this process {peak:.0f} MB; report -> {args.out_dir}/report.md")


if __name__ == "__main__":
    sys.exit(main())
