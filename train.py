"""Pretrain a tiny code GPT from scratch on the benchmark's training problems.

    python train.py                       # pretrain with the CPU defaults -> out/base.pt
    python train.py --max_steps=50        # any setting can be overridden; see --help
    python train.py --resume              # continue from out/base.pt after a crash or a kill
    python train.py --device=cuda         # bf16 autocast on a GPU

Each training sequence is prompt + solution + <|endoftext|>, tokenized as two parts exactly
as sample.py will see them (prompt alone, then the continuation). AdamW with linear warmup
and cosine decay, gradient clipping, a validation loss on data/val.jsonl every eval_interval
steps, and an atomic checkpoint (temp file + rename: a kill never leaves a broken one) holding
model, optimizer, config, step and RNG states. Batches are a pure function of (seed, step), so
--resume continues exactly where the run stopped.
"""
import argparse
import contextlib
import math
import os
import random
import sys
import time

import torch
from tqdm import tqdm

from data import DATA_DIR, read_jsonl
from data.tokenizer import get_tokenizer
from model import GPT, GPTConfig


def get_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--out_dir", default="out", help="where checkpoints and reports go")
    a("--data_dir", default=DATA_DIR, help="folder with pretrain.jsonl and val.jsonl")
    a("--device", default="cpu", choices=["cpu", "cuda"])
    a("--seed", type=int, default=0)
    a("--resume", action="store_true", help="continue from the checkpoint in out_dir")
    # model
    a("--n_layer", type=int, default=4)
    a("--n_head", type=int, default=4)
    a("--n_embd", type=int, default=128)
    a("--block_size", type=int, default=256)
    a("--dropout", type=float, default=0.0)
    # optimisation
    a("--batch_size", type=int, default=32, help="sequences per step")
    a("--max_steps", type=int, default=1500)
    a("--lr", type=float, default=3e-3, help="peak learning rate")
    a("--min_lr_ratio", type=float, default=0.1, help="final lr = lr * min_lr_ratio")
    a("--warmup_steps", type=int, default=100)
    a("--weight_decay", type=float, default=0.1)
    a("--grad_clip", type=float, default=1.0, help="max gradient norm (0 = off)")
    a("--eval_interval", type=int, default=250)
    a("--ckpt_interval", type=int, default=250)
    args = ap.parse_args(argv)
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_steps",
                 "eval_interval", "ckpt_interval"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    for name in ("warmup_steps",):
        if getattr(args, name) < 0:
            ap.error(f"--{name} must be >= 0")
    if args.lr <= 0 or not 0 <= args.min_lr_ratio <= 1 or not 0 <= args.dropout < 1:
        ap.error("need --lr > 0, 0 <= --min_lr_ratio <= 1 and 0 <= --dropout < 1")
    if args.weight_decay < 0 or args.grad_clip < 0:
        ap.error("--weight_decay and --grad_clip must be >= 0")
    if args.n_embd % args.n_head:
        ap.error(f"--n_embd ({args.n_embd}) must be a multiple of --n_head ({args.n_head})")
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
def save_checkpoint(path, model, opt, step, args, history):
    """Write to a temp file, flush it to disk, then rename: the old file stays intact until
    the new one is complete, so a kill at any moment leaves a loadable checkpoint."""
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "config": vars(model.cfg),
             "args": vars(args), "step": step, "history": history,
             "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}}
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- the training loop (used for pretraining and, later, for the SSD fine-tune) -------------
def train(args, pairs, val_pairs, ckpt_path, prompt_loss=True, init_state=None):
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
            save_checkpoint(ckpt_path, model, opt, done, args, history)
        bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{vl:.3f}", tok_s=f"{tokens / (time.time() - t0):.0f}")
    bar.close()
    return model.eval()


def main(argv=None):
    args = get_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    train_rows = read_jsonl(os.path.join(args.data_dir, "pretrain.jsonl"), required=("prompt", "solution"))
    val_rows = read_jsonl(os.path.join(args.data_dir, "val.jsonl"), required=("prompt", "solution"))
    t0 = time.time()
    train(args, encode_pairs(train_rows, "solution"), encode_pairs(val_rows, "solution"),
          os.path.join(args.out_dir, "base.pt"))
    print(f"pretraining took {time.time() - t0:.0f} s -> {os.path.join(args.out_dir, 'base.pt')}")


if __name__ == "__main__":
    sys.exit(main())
