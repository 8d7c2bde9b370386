"""Pretrain a tiny code GPT from scratch, then improve it with simple self-distillation (SSD).

    python train.py                       # the whole demo: pretrain -> SSD data -> SSD fine-tune
                                          #   -> evaluate base vs SSD over temperatures -> report
    python train.py --stage=pretrain      # only the base model -> out/base.pt
    python train.py --resume              # continue pretraining from out/base.pt after a kill
    python train.py --stage=ssd --run=fixed_point --ssd_temperature=1 --ssd_top_k=0 --ssd_top_p=1 --ssd_min_p=0
                                          # another SSD recipe on the same base -> out/fixed_point_report.md
    python train.py --device=cuda --preset=gpu     # bf16 on a GPU, a bigger model and benchmark
    torchrun --nproc_per_node=2 train.py  # DDP: each process takes half of every batch

Pretraining: each sequence is prompt + solution + <|endoftext|>, tokenized as two parts exactly
as sample.py sees them. AdamW with warmup and cosine decay, gradient clipping, a validation loss
on data/val.jsonl, atomic checkpoints (temp file + rename: a kill never leaves a broken one) with
model, optimizer, config, step and RNG states. Batches are a pure function of (seed, step), so
--resume continues exactly. A finished base.pt made with the same settings and data is reused;
one made with other settings is never replaced unless --overwrite says so, and --resume refuses
other settings. Checkpoints hold only tensors and plain values plus a checksum: they load with
weights_only=True (a crafted file cannot run code) and a damaged one is refused.

SSD (the paper's method) and its recipe here. Every value is an option (config.py), e.g. --ssd_min_p=0:
    one sample per SSD prompt      2,000 prompts, drawn from the frozen base; no verifier, no tests
                                   run, no teacher: every non-empty sample is kept, right or wrong
    T_train 1.6, top-k 20, top-p 0.8   the paper's recipe for its instruct models: heat, then cut tails
    min-p 0.3                      ours, not the paper's: then drop tokens below 0.3 x the top one
                                   (our locks have one heavy wrong token, which heat + top-p keep)
    1 epoch, lr 3e-4, batch 32     plain SFT of the base on (prompt, own sample), loss on the
                                   completion tokens only, every sequence weighing the same
The SSD prompts come without solutions, and this stage reads nothing but their prompt text.
"""
import argparse
import contextlib
import json
import math
import os
import random
import resource
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

import evaluate
import sample
from config import get_args                                    # every option, its default and checks
from data import benchmark, read_jsonl, run_main
from data.tokenizer import get_tokenizer
from model import GPT, GPTConfig, checksum, load_checkpoint, load_model
from report import write_report
from runs import fingerprint, make_out_dir, preflight, release_memory, ssd_fingerprint   # bookkeeping


# --- data -----------------------------------------------------------------------------------
def encode_pairs(problems, field):
    """(prompt ids, response ids + <|endoftext|>) per problem, the two parts tokenized apart."""
    enc = get_tokenizer()
    return [(enc.encode(p["prompt"]), enc.encode(p[field]) + [enc.eot_token]) for p in problems]


def collate(pairs, block_size, prompt_loss=True, multiple=8):
    """Right-padded inputs x and next-token targets y; y = -1 where no loss is taken:
    padding and, when prompt_loss is False (SFT), every target that is a prompt token.
    The length is padded up to a multiple of 8 (at most block_size): fewer distinct tensor sizes,
    so freed memory is reused (docs/gpu.md). Padding takes no loss and, with causal attention,
    changes nothing before it."""
    eot = get_tokenizer().eot_token
    seqs = [(p + r)[:block_size + 1] for p, r in pairs]
    longest = max(len(s) for s in seqs) - 1
    T = min(math.ceil(longest / multiple) * multiple, block_size)
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


# --- the loss: every sequence weighs the same ----------------------------------------------
def loss_tokens_per_sequence(pairs, block_size, prompt_loss=True):
    """The mean number of tokens a sequence contributes to the loss (after truncation)."""
    return sum(min(len(p) + len(r), block_size + 1) - 1 - (0 if prompt_loss else len(p) - 1)
               for p, r in pairs) / len(pairs)


def sequence_weighted(mean_loss, y, per_seq):
    """A design decision that matters more than it looks. `mean_loss` is the mean over this
    batch's loss tokens; we return sum of token losses / (rows x per_seq), per_seq being the
    same constant for every batch: every *sequence* weighs the same, whatever its length.
    The usual mean over a batch's tokens gives each token of a short sequence more weight than
    a token of a long one (batches hold similar lengths), so self-training on the model's own
    samples drifts toward short answers instead of staying put at T_train = 1, the paper's
    fixed point (on our benchmark the wrong idiom is the longest style, so that drift alone
    looks like an SSD gain; exercise 8). With DDP each process divides by its own rows, and
    DDP's average over processes gives the loss of the whole global batch."""
    return mean_loss * (y != -1).sum() / (len(y) * per_seq)


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
                              {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95),
                             fused=args.device.startswith("cuda"))   # one kernel for all parameters


def autocast(device, cpu_bf16=False):
    """bf16 on a GPU (same exponent range as fp32: no loss scaling needed); plain fp32 on CPU,
    unless --cpu_bf16 (then model.py keeps attention and the LM head in fp32)."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", dtype=torch.bfloat16) if cpu_bf16 else contextlib.nullcontext()


@torch.no_grad()
def val_loss(model, pairs, args, prompt_loss=True):
    """The mean loss per loss token. Sequences of similar length share a batch: 40 % fewer padded
    positions to compute than in file order, and a sum over tokens does not care about order."""
    model.eval()
    pairs = sorted(pairs, key=lambda p: len(p[0]) + len(p[1]))
    total, count = 0.0, 0
    for i in range(0, len(pairs), 64):
        x, y = (t.to(args.device) for t in collate(pairs[i:i + 64], args.block_size, prompt_loss))
        with autocast(args.device, args.cpu_bf16):
            _, loss = model(x, y)
        n = (y != -1).sum().item()
        if n:   # a batch of prompts that fill the block has no loss token (its mean is NaN)
            total, count = total + loss.item() * n, count + n
    model.train()
    return total / max(count, 1)


# --- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(path, model, opt, step, args, history, fingerprint=None):
    """Write to a temp file, flush it to disk, then rename: the old file stays intact until
    the new one is complete, so a kill at any moment leaves a loadable checkpoint. The checksum
    lets model.load_checkpoint refuse a file damaged later."""
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "config": vars(model.cfg),
             "args": vars(args), "step": step, "history": history, "fingerprint": fingerprint,
             "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}}
    state["checksum"] = checksum(state)        # tensors and plain values only: loadable with weights_only
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- the training loop (pretraining and the SSD fine-tune) ---------------------------------
def rank_world():
    """(this process's rank, number of processes): (0, 1) unless started by torchrun."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def train_step(net, model, opt, x, y, per_seq, args):
    """One step on the batch (x, y): forward, the sequence-weighted loss, backward, gradient
    clipping, AdamW. Returns the batch's mean loss per token (what the progress bar shows)."""
    with autocast(args.device, args.cpu_bf16):
        _, loss = net(x, y)                            # mean over this batch's loss tokens
    opt.zero_grad(set_to_none=True)
    sequence_weighted(loss, y, per_seq).backward()
    if args.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
    opt.step()
    return loss


def train(args, pairs, val_pairs, ckpt_path, prompt_loss=True, init_state=None, fingerprint=None, fresh=None):
    """The loop of both stages. fresh(model, indices), if given, replaces the batch's pairs by new
    ones made with the model being trained (the online variant of SSD)."""
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    rank, world = rank_world()
    cfg = GPTConfig(vocab_size=get_tokenizer().n_vocab, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    model = GPT(cfg).to(args.device)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = make_optimizer(model, args)
    step, history = 0, []
    if args.resume and os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path, args.device)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history = ckpt["step"], ckpt["history"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        random.setstate(ckpt["rng"]["python"])
        print(f"resuming {ckpt_path} at step {step}/{args.max_steps}")
    # with torchrun every process holds a replica; DDP averages their gradients after backward
    net = DDP(model) if world > 1 else model
    net = torch.compile(net) if args.compile else net
    if rank == 0:
        print(f"model: {model.num_params() / 1e6:.2f}M parameters; {len(pairs)} training sequences"
              + (f"; {world} processes" if world > 1 else ""))
    lengths = [len(p) + len(r) for p, r in pairs]
    per_seq = loss_tokens_per_sequence(pairs, args.block_size, prompt_loss)
    bar = tqdm(range(step, args.max_steps), initial=step, total=args.max_steps, dynamic_ncols=True,
               disable=None if rank == 0 else True)
    t0, tokens, vl = time.time(), 0, float("nan")
    cuda = args.device.startswith("cuda")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        batch = batch_indices(step, lengths, args.batch_size, args.seed)[rank::world]  # my share
        x, y = collate(fresh(model, batch) if fresh else [pairs[i] for i in batch], args.block_size, prompt_loss)
        if cuda:   # page-locked memory lets the copy overlap with compute
            x, y = x.pin_memory().to(args.device, non_blocking=True), y.pin_memory().to(args.device, non_blocking=True)
        loss = train_step(net, model, opt, x, y, per_seq, args)
        tokens += x.numel() * world
        done = step + 1
        saving = rank == 0 and (done % args.ckpt_interval == 0 or done == args.max_steps)
        if not sound(loss, model, world, saving):   # every later step and sample would be nan
            raise SystemExit(f"error: training diverged at step {done} with learning rate {args.lr:g} (try a lower "
                             f"one); {os.path.basename(ckpt_path)} holds the last weights saved before it, if any")
        if rank == 0 and (done % args.eval_interval == 0 or done == args.max_steps):
            vl = val_loss(model, val_pairs, args, prompt_loss)
            history.append({"step": done, "train_loss": loss.item(), "val_loss": vl})
            bar.write(f"step {done}: train loss {loss.item():.4f}, val loss {vl:.4f}")
        if saving:
            save_checkpoint(ckpt_path, model, opt, done, args, history, fingerprint)
        bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{vl:.3f}", tok_s=f"{tokens / (time.time() - t0):.0f}")
    bar.close()
    if world > 1:
        dist.barrier()   # the others wait for rank 0's last checkpoint
    return model.eval()


def sound(loss, model, world, saving):
    """Whether training is still sound: this step's loss is finite and, before a save, every weight
    (the update comes after the loss, so it can break the weights a finite loss measured). Several
    processes decide together: one that stopped alone would leave the rest waiting forever at the
    next gradient sync."""
    ok = math.isfinite(loss.item()) and not (saving and any(not torch.isfinite(p).all() for p in model.parameters()))
    if world > 1:
        flag = torch.tensor(float(ok), device=loss.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        ok = flag.item() == 1.0
    return ok


# --- the stages -----------------------------------------------------------------------------
def pretrain(args, plan):
    path = os.path.join(args.out_dir, "base.pt")
    if plan == "reuse":
        print(f"reusing {path}: finished, same settings and data")
        return load_model(path, args.device)[0]
    rows = read_jsonl(os.path.join(args.data_dir, "pretrain.jsonl"), required=("prompt", "solution"))
    val = read_jsonl(os.path.join(args.data_dir, "val.jsonl"), required=("prompt", "solution"))
    args = argparse.Namespace(**{**vars(args), "resume": plan == "resume"})
    return train(args, encode_pairs(rows, "solution"), encode_pairs(val, "solution"), path, fingerprint=fingerprint(args))


def ssd_data(args, base):
    """One sample per SSD prompt (--ssd_n of them) from the frozen base. Only the prompt text is
    read; nothing is filtered but empty completions. Whether a sample would pass is measured for
    the reader."""
    rows = read_jsonl(os.path.join(args.data_dir, "ssd.jsonl"), required=("task_id", "prompt"))
    rows = rows[:args.ssd_prompts or None]
    prompts = [{"task_id": r["task_id"], "prompt": r["prompt"]} for r in rows]   # no solutions, ever
    rank, world = rank_world()
    samples = sample.sample_completions(base, prompts[rank::world], args.ssd_temperature, args.ssd_n, top_k=args.ssd_top_k,
                                          top_p=args.ssd_top_p, min_p=args.ssd_min_p, seed=args.ssd_seed + rank,
                                          max_new_tokens=args.block_size, progress=rank == 0)
    if world > 1:   # every process sampled its share of the prompts; put them back in order
        parts = [None] * world
        dist.all_gather_object(parts, samples)
        per = [[part[i:i + args.ssd_n] for i in range(0, len(part), args.ssd_n)] for part in parts]
        samples = [s for i in range(len(prompts)) for s in per[i % world][i // world]]
    by_id = {p["task_id"]: p["prompt"] for p in prompts}
    kept = [dict(s, prompt=by_id[s["task_id"]]) for s in samples if s["completion"].strip()]  # drop empty only
    if rank != 0:
        return kept, None
    passed = evaluate.judge(rows, samples)     # for the reader only: nothing below uses it
    problem = {r["task_id"]: r for r in rows}
    stats = {"prompts": len(rows), **({"samples": len(samples)} if args.ssd_n > 1 else {}), "kept": len(kept),
             "share_empty": 1 - len(kept) / len(samples),
             "share_no_valid_code": sum(not evaluate.valid_code(problem[s["task_id"]], s["completion"])
                                        for s in samples) / len(samples),
             "mean_tokens": sum(len(s["tokens"]) for s in samples) / len(samples),
             "share_would_pass": sum(r["passed"] for r in passed) / len(samples)}
    with open(os.path.join(args.out_dir, f"{args.run}_samples.jsonl"), "w") as f:
        f.writelines(json.dumps(k) + "\n" for k in kept)
    print("SSD data: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()))
    return kept, stats


def ssd_finetune(args, base, kept):
    """Plain SFT of the base on its own samples, loss on the completion tokens only."""
    enc = get_tokenizer()
    # train on the very tokens that were sampled (re-encoding the text could split it otherwise)
    pairs = [(enc.encode(k["prompt"]), k["tokens"] + [enc.eot_token]) for k in kept]
    val = read_jsonl(os.path.join(args.data_dir, "val.jsonl"), required=("prompt", "canonical_solution"))
    steps = max(1, math.ceil(args.ssd_epochs * len(pairs) / args.ssd_batch_size))
    sft = argparse.Namespace(**{**vars(args), "seed": args.ssd_seed, "lr": args.ssd_lr, "batch_size": args.ssd_batch_size,
                                "max_steps": steps, "warmup_steps": min(args.warmup_steps, steps // 10),
                                "eval_interval": steps, "ckpt_interval": steps, "resume": False})

    def sample_from_student(model, batch):   # --ssd_online (lab): the same prompts, sampled from the student as it is now
        model.eval()
        new = sample.sample_completions(model, [kept[i] for i in batch], args.ssd_temperature, 1,
                                        top_k=args.ssd_top_k, top_p=args.ssd_top_p, min_p=args.ssd_min_p,
                                        seed=args.ssd_seed * 100_003 + batch[0], max_new_tokens=args.block_size,
                                        progress=False)
        model.train()
        return [(pairs[i][0], s["tokens"] + [enc.eot_token]) for i, s in zip(batch, new)]
    # the validation loss here: how likely the model finds correct (canonical) solutions
    return train(sft, pairs, encode_pairs(val, "canonical_solution"), os.path.join(args.out_dir, f"{args.run}.pt"),
                 prompt_loss=False, init_state=base.state_dict(), fingerprint=ssd_fingerprint(args),
                 fresh=sample_from_student if args.ssd_online else None)


def main(argv=None):
    args = get_args(argv, __doc__)
    if "RANK" in os.environ:   # started by torchrun: one process per GPU (or CPU slot)
        dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
        if args.device == "cuda":
            args.device = f"cuda:{os.environ['LOCAL_RANK']}"
            torch.cuda.set_device(args.device)
        if args.batch_size % dist.get_world_size() or args.ssd_batch_size % dist.get_world_size():
            raise SystemExit("error: --batch_size and --ssd_batch_size must be multiples of the process count")
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True   # fp32 matmuls (outside autocast) on tensor cores
        torch.backends.cudnn.allow_tf32 = True
    rank, world = rank_world()
    if args.data_sizes and rank == 0:   # same generator and seed, other sizes
        make_out_dir(args)
        benchmark.ensure(args.data_dir, dict(zip(("pretrain", "val", "ssd", "test"), map(int, args.data_sizes.split(",")))))
    if world > 1:
        dist.barrier()
    plan = preflight(args)
    t0 = time.time()
    say = (lambda msg: print(f"[{time.time() - t0:.0f} s] {msg}")) if rank == 0 else (lambda msg: None)
    if args.stage in ("all", "pretrain"):
        base = pretrain(args, plan)
    else:
        base = load_model(os.path.join(args.out_dir, "base.pt"), args.device)[0]
    release_memory()
    say("base model ready")
    stats = None
    if args.stage in ("all", "ssd"):
        # the teacher: the base, or for a later round of SSD an earlier SSD model (--ssd_from)
        teacher = load_model(os.path.join(args.out_dir, f"{args.ssd_from}.pt"), args.device)[0] if args.ssd_from else base
        kept, stats = ssd_data(args, teacher)
        say("SSD data ready")
        student = ssd_finetune(args, teacher, kept)
        release_memory()
        say("SSD model ready")
    elif args.stage == "eval":
        student = load_model(os.path.join(args.out_dir, f"{args.run}.pt"), args.device)[0]
    if args.stage != "pretrain" and rank == 0:   # evaluation runs in one process
        write_report(args, {"base": base, "SSD": student}, stats, key=fingerprint(args))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        say(f"done; peak memory of this process {peak:.0f} MB; report -> {os.path.join(args.out_dir, args.run + '_report.md')}")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    run_main(main)
