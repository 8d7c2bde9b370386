"""torchrun with 2 CPU processes (gloo) trains the same model as one process with the same global batch, and
stops every process together when one of them diverges."""
import os
import subprocess
import sys

import pytest
from conftest import copy_benchmark
import torch

import train
from model import GPT, GPTConfig


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--stage=pretrain", "--n_layer=1", "--n_head=2", "--n_embd=32", "--block_size=160", "--batch_size=8",
        "--max_steps=12", "--warmup_steps=2", "--eval_interval=6", "--ckpt_interval=6", "--seed=5"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return str(copy_benchmark(tmp_path_factory.mktemp("data"), pretrain=48, val=8))


def run(cmd, env=None):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tiny_data, tmp_path):
    args = TINY + [f"--data_dir={tiny_data}"]
    run([sys.executable, "train.py", *args, f"--out_dir={tmp_path / 'one'}"])
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
         "train.py", *args, f"--out_dir={tmp_path / 'two'}"])
    one = torch.load(tmp_path / "one" / "base.pt", weights_only=False)
    two = torch.load(tmp_path / "two" / "base.pt", weights_only=False)
    # Same data, same seed, same global batch: the only difference is where the float sums happen
    # (two half-batch gradients summed by all-reduce vs one full-batch gradient), which changes
    # the last bits of each step (~1e-7 relative). What must agree is the model: its losses, and
    # every weight that every step trains. A position embedding that only a few long sequences
    # reach gets a near-zero gradient in most steps, where AdamW's m / sqrt(v) turns rounding into a
    # full step (one such entry differed by 5e-5 on an AVX2 CPU): those rows are left out.
    for a, b in zip(one["history"], two["history"]):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    every_step = positions_every_step_reaches(tiny_data)      # 56 of the block's 160 here
    for k in one["model"]:
        x, y = (one["model"][k], two["model"][k]) if k != "wpe.weight" else (one["model"][k][:every_step],
                                                                               two["model"][k][:every_step])
        assert torch.allclose(x, y, rtol=1e-3, atol=1e-5), k


def positions_every_step_reaches(data_dir):
    """How many leading positions hold a token of some sequence in every batch of the TINY run."""
    import train
    from config import get_args
    from data import read_jsonl
    args = get_args(TINY + [f"--data_dir={data_dir}"])
    pairs = train.encode_pairs(read_jsonl(os.path.join(data_dir, "pretrain.jsonl")), "solution")
    lengths = [len(p) + len(r) for p, r in pairs]                        # as train.py orders its batches
    reach = [min(n - 1, args.block_size) for n in lengths]                # input positions of each sequence
    return min(max(reach[i] for i in train.batch_indices(step, lengths, args.batch_size, args.seed))
               for step in range(args.max_steps))



def _sound_on(rank, port, losses, out):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16))
    verdict = train.sound(torch.tensor(losses[rank]), model, world=2, saving=False)
    (out / f"rank{rank}").write_text(str(verdict))
    dist.destroy_process_group()


@pytest.mark.slow
def test_one_process_with_a_nan_loss_stops_every_process_not_only_itself(tmp_path):
    # rank 0's batch overflowed, rank 1's did not: had rank 0 stopped alone, rank 1 would wait forever
    # at the next gradient sync. Both must decide "not sound" together.
    torch.multiprocessing.spawn(_sound_on, args=(29519, [float("nan"), 1.0], tmp_path), nprocs=2)
    assert (tmp_path / "rank0").read_text() == "False" and (tmp_path / "rank1").read_text() == "False"
