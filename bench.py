"""Measure speed: sampling with and without the KV cache.

    python bench.py                        # uses out/base.pt if present, else a fresh model
    python bench.py --ckpt=out/base.pt --samples=64 --new_tokens=128

Sampling: one prompt of the test split, --samples rows, exactly --new_tokens new tokens per row
(end-of-text does not stop a row here, so both ways do the same work), temperature 1.
"with cache" prefills the prompt once and then feeds one token per row per step; "without"
reruns the whole sequence for every new token. Both use the same seed; their float sums differ
in the last bits, so a sampled row can take another branch at a near-tie (greedy rows agree:
tests/test_sample.py checks that).
"""
import argparse
import os
import time

import torch

from data import DATA_DIR, read_jsonl
from data.tokenizer import get_tokenizer
from model import GPT, GPTConfig, load_model
from sample import generate


def bench_sampling(model, prompt_ids, samples, new_tokens, use_cache):
    kw = dict(n=samples, max_new_tokens=new_tokens, temperature=1.0, stop_at_eot=False)
    generate(model, [prompt_ids], **{**kw, "max_new_tokens": 2}, use_cache=use_cache)  # warm-up
    t0 = time.perf_counter()
    out = generate(model, [prompt_ids], generator=torch.Generator().manual_seed(0), use_cache=use_cache, **kw)
    dt = time.perf_counter() - t0
    return out, dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="out/base.pt")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--new_tokens", type=int, default=128)
    args = ap.parse_args(argv)
    if args.samples < 1 or args.new_tokens < 1:
        ap.error("--samples and --new_tokens must be >= 1")
    if os.path.exists(args.ckpt):
        model, _ = load_model(args.ckpt)
        what = args.ckpt
    else:
        torch.manual_seed(0)
        model, what = GPT(GPTConfig(vocab_size=get_tokenizer().n_vocab)).eval(), "a freshly initialised model"
    prompt = get_tokenizer().encode(read_jsonl(os.path.join(DATA_DIR, "test.jsonl"))[0]["prompt"])
    print(f"sampling {args.samples} x {args.new_tokens} new tokens after a {len(prompt)}-token prompt, "
          f"{what}, {torch.get_num_threads()} CPU threads")
    cached, t_cache = bench_sampling(model, prompt, args.samples, args.new_tokens, True)
    full, t_full = bench_sampling(model, prompt, args.samples, args.new_tokens, False)
    n = args.samples * args.new_tokens
    print(f"{'':14s} {'seconds':>8s} {'tokens/s':>9s}")
    print(f"{'KV cache':14s} {t_cache:8.2f} {n / t_cache:9.0f}")
    print(f"{'recompute':14s} {t_full:8.2f} {n / t_full:9.0f}")
    same = sum(a == b for a, b in zip(cached, full))
    print(f"speed-up {t_full / t_cache:.1f}x ({same} of {args.samples} rows drew identical tokens)")


if __name__ == "__main__":
    main()
