"""Measure speed: training tokens/s and MFU, sampling with and without the KV cache, judging.

    python lab/bench.py                          # all three, CPU, the default model size
    python lab/bench.py --what=sample --ckpt=out/base.pt --samples=64 --new_tokens=128
    python lab/bench.py --device=cuda --n_layer=8 --n_embd=384 --n_head=6 --batch_size=128
    python lab/bench.py --what=variants          # fp32 against --cpu_bf16, math attention, torch.compile

training   --steps timed steps (after 3 warm-up steps) of train.py's own step (train_step) on real batches
           of the benchmark: tokens/s, and MFU = achieved FLOP/s / the device's peak. FLOPs per
           token: 6 x parameters (forward + backward of every weight) + 12 x layers x width x
           sequence length (attention scores and their use). Peaks are dense bf16 figures from
           the vendors' data sheets (PEAK_FLOPS below); a device not in the table gets no MFU.
sampling   one test prompt, --samples rows, exactly --new_tokens new tokens per row (end-of-text
           does not stop a row here, so both ways do the same work), temperature 1. "KV cache"
           prefills once and then feeds one token per step; "recompute" reruns the whole
           sequence for every new token. Same seed; float sums differ in the last bits, so a
           sampled row may take another branch at a near-tie (greedy rows agree: see the tests).
judging    the canonical solutions of the test split through evaluate.judge (all cores).
variants   what might make training faster on a CPU, against the plain fp32 loop on the same
           batches, interleaved rounds (--repeats), on one thread: --cpu_bf16 (the blocks' matrix
           products in bf16), the "math" attention kernel instead of flash, torch.compile.
           Tokens/s ratio and the loss after the same steps (a variant that rounds differently
           trains a slightly different model).
"""
import argparse
import contextlib
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # the lesson's scripts

import evaluate                                 # noqa: E402
import train                                    # noqa: E402
from config import get_args                     # noqa: E402
from data import DATA_DIR, read_jsonl, run_main  # noqa: E402
from data.tokenizer import get_tokenizer        # noqa: E402
from model import GPT, GPTConfig, load_model    # noqa: E402
from sample import generate                     # noqa: E402

PEAK_FLOPS = {"H100 SXM": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "GH200": 989e12,
              "A100": 312e12, "L4": 121e12, "A10G": 70e12, "RTX 4090": 165e12}


def peak_flops(device):
    if not device.startswith("cuda"):
        return None, "CPU (no peak in the table)"
    name = torch.cuda.get_device_name(device)
    key = next((k for k in PEAK_FLOPS if k in name), None)
    return (PEAK_FLOPS[key], f"{name} (peak {PEAK_FLOPS[key] / 1e12:.0f} TFLOP/s bf16)") if key else (None, name)


def bench_training(args):
    targs = get_args([f"--device={args.device}", f"--n_layer={args.n_layer}", f"--n_head={args.n_head}",
                            f"--n_embd={args.n_embd}", f"--batch_size={args.batch_size}"] + (["--compile"] if args.compile else []))
    pairs = train.encode_pairs(read_jsonl(os.path.join(DATA_DIR, "pretrain.jsonl"))[:4000], "solution")
    lengths, per_seq = [len(p) + len(r) for p, r in pairs], train.loss_tokens_per_sequence(pairs, targs.block_size)
    cfg = GPTConfig(vocab_size=get_tokenizer().n_vocab, block_size=targs.block_size, n_layer=targs.n_layer,
                    n_head=targs.n_head, n_embd=targs.n_embd)
    model = GPT(cfg).to(targs.device)
    opt = train.make_optimizer(model, targs)
    net = torch.compile(model) if targs.compile else model
    tokens, flops, cuda = 0, 0.0, targs.device.startswith("cuda")
    n_params = model.num_params() - model.wpe.weight.numel()   # position embeddings do no matmul
    for step in range(args.steps + 3):
        if step == 3:   # warm-up done (allocator, kernels, compile)
            torch.cuda.synchronize() if cuda else None
            t0, tokens, flops = time.perf_counter(), 0, 0.0
        x, y = train.collate([pairs[i] for i in train.batch_indices(step, lengths, targs.batch_size, 0)], targs.block_size)
        train.train_step(net, model, opt, x.to(targs.device), y.to(targs.device), per_seq, targs)   # train.py's own step
        tokens += x.numel()
        flops += x.numel() * (6 * n_params + 12 * cfg.n_layer * cfg.n_embd * x.size(1))
    torch.cuda.synchronize() if cuda else None
    dt = time.perf_counter() - t0
    peak, what = peak_flops(targs.device)
    mfu = f"{100 * flops / dt / peak:.1f}%" if peak else "n/a"
    print(f"training   {model.num_params() / 1e6:.2f}M params, batch {targs.batch_size}, {what}: "
          f"{tokens / dt:,.0f} tokens/s, {flops / dt / 1e12:.3f} TFLOP/s, MFU {mfu}")


def bench_variants(args):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    targs = get_args([])
    pairs = train.encode_pairs(read_jsonl(os.path.join(DATA_DIR, "pretrain.jsonl"))[:4000], "solution")
    lengths, per_seq = [len(p) + len(r) for p, r in pairs], train.loss_tokens_per_sequence(pairs, 256)
    batches = [train.collate([pairs[i] for i in train.batch_indices(s, lengths, 32, 0)], 256) for s in range(args.steps)]
    bf16 = argparse.Namespace(**{**vars(targs), "cpu_bf16": True})
    variants = {"fp32": (targs, contextlib.nullcontext), "--cpu_bf16": (bf16, contextlib.nullcontext),   # (train.py's
                "math attention": (targs, lambda: sdpa_kernel(SDPBackend.MATH)),                        # settings,
                "torch.compile": (targs, contextlib.nullcontext)}                                        # around the step)
    steps, losses, first, times = {}, {name: [] for name in variants}, {}, {}
    for name, (vargs, ctx) in variants.items():
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=get_tokenizer().n_vocab))
        opt = train.make_optimizer(model, targs)
        net = torch.compile(model, dynamic=True) if name == "torch.compile" else model

        def run(name=name, vargs=vargs, ctx=ctx, net=net, model=model, opt=opt):   # one round: every batch once
            for x, y in batches:
                with ctx():
                    loss = train.train_step(net, model, opt, x, y, per_seq, vargs)
                losses[name].append(loss.item())
        t0 = time.perf_counter()
        run()                                            # warm-up round: compiles where it compiles
        steps[name], first[name], times[name] = run, time.perf_counter() - t0, []
    for r in range(args.repeats):
        for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)
    tokens, base = sum(x.numel() for x, _ in batches), statistics.median(times["fp32"])
    print(f"variants   {args.steps} training steps a round, batch 32, one thread, median of {args.repeats} rounds:")
    for name in steps:
        t = statistics.median(times[name])
        print(f"           {name:15} {tokens / t:9,.0f} tokens/s  {base / t:.2f}x  first round {first[name]:5.1f} s  "
              f"loss after {len(losses[name])} steps {losses[name][-1]:.4f}")


def bench_sampling(args):
    if os.path.exists(args.ckpt):
        model, what = load_model(args.ckpt, args.device)[0], args.ckpt
    else:
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=get_tokenizer().n_vocab, n_layer=args.n_layer, n_head=args.n_head,
                              n_embd=args.n_embd)).to(args.device).eval()
        what = "a freshly initialised model"
    prompt = get_tokenizer().encode(read_jsonl(os.path.join(DATA_DIR, "test.jsonl"))[0]["prompt"])
    kw = dict(n=args.samples, max_new_tokens=args.new_tokens, temperature=1.0, stop_at_eot=False)
    times, outs = {}, {}
    for use_cache in (True, False):
        generate(model, [prompt], **{**kw, "max_new_tokens": 2}, use_cache=use_cache)   # warm-up
        t0 = time.perf_counter()
        g = torch.Generator(device=args.device).manual_seed(0)
        outs[use_cache] = generate(model, [prompt], generator=g, use_cache=use_cache, **kw)
        times[use_cache] = time.perf_counter() - t0
    n = args.samples * args.new_tokens
    same = sum(a == b for a, b in zip(outs[True], outs[False]))
    print(f"sampling   {args.samples} x {args.new_tokens} new tokens after a {len(prompt)}-token prompt, {what}:")
    print(f"           KV cache {times[True]:6.2f} s {n / times[True]:9,.0f} tokens/s")
    print(f"           recompute {times[False]:5.2f} s {n / times[False]:9,.0f} tokens/s   "
          f"speed-up {times[False] / times[True]:.1f}x ({same}/{args.samples} rows drew identical tokens)")


def bench_judging(args):
    problems = read_jsonl(os.path.join(DATA_DIR, "test.jsonl"))
    samples = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]
    t0 = time.perf_counter()
    results = evaluate.judge(problems, samples, progress=False)
    dt = time.perf_counter() - t0
    print(f"judging    {len(samples)} canonical solutions of the test split on {os.cpu_count()} cores: "
          f"{len(samples) / dt:,.0f} programs/s ({sum(r['passed'] for r in results)} passed)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--what", default="all", choices=["all", "train", "sample", "judge", "variants"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--ckpt", default="out/base.pt", help="sampling: this checkpoint if it exists")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--new_tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--n_layer", type=int, default=4)
    ap.add_argument("--n_head", type=int, default=4)
    ap.add_argument("--n_embd", type=int, default=128)
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="variants: timed rounds of --steps steps each")
    args = ap.parse_args(argv)
    if min(args.samples, args.new_tokens, args.steps) < 1:
        ap.error("--samples, --new_tokens and --steps must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device=cuda but no CUDA device is available")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if args.what in ("all", "train"):
        bench_training(args)
    if args.what in ("all", "sample"):
        bench_sampling(args)
    if args.what in ("all", "judge"):
        bench_judging(args)
    if args.what == "variants":
        torch.set_num_threads(1)
        bench_variants(args)


if __name__ == "__main__":
    run_main(main)
