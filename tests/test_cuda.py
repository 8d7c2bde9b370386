"""The CUDA path (skipped without a GPU): bf16 training, compile, and cached generation on the GPU."""

import pytest
from conftest import copy_benchmark
import torch

import sample
import train
from model import GPT, GPTConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return str(copy_benchmark(tmp_path_factory.mktemp("data"), pretrain=64, val=8, ssd=8, test=6))


def test_bf16_pretraining_on_the_gpu_lowers_the_loss(tiny_data, tmp_path):
    train.main(["--stage=pretrain", "--device=cuda", "--n_layer=2", "--n_embd=64", "--n_head=2", "--batch_size=16",
                "--max_steps=30", "--eval_interval=10", "--lr=1e-2", f"--data_dir={tiny_data}", f"--out_dir={tmp_path}"])
    h = torch.load(tmp_path / "base.pt", weights_only=False)["history"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]


def test_compiled_training_runs_every_stage(tiny_data, tmp_path):
    train.main(["--device=cuda", "--compile", "--n_layer=1", "--n_embd=64", "--n_head=2", "--batch_size=8",
                "--max_steps=6", "--eval_interval=3", "--ssd_batch_size=8", "--eval_temperatures=0,1", "--eval_n=2",
                f"--data_dir={tiny_data}", f"--out_dir={tmp_path}"])
    assert (tmp_path / "ssd_report.md").exists()


def test_cached_generation_on_the_gpu_matches_recomputation():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=1024, block_size=64, n_layer=2, n_head=2, n_embd=32)).cuda().eval()
    prompts = [[5, 6, 7, 8], [9, 10]]
    a = sample.generate(model, prompts, max_new_tokens=16, temperature=0.0)
    b = sample.generate(model, prompts, max_new_tokens=16, temperature=0.0, use_cache=False)
    assert a == b
    g = torch.Generator(device="cuda").manual_seed(0)
    outs = sample.generate(model, prompts, n=4, max_new_tokens=8, temperature=1.0, top_k=20, top_p=0.9, generator=g)
    assert len(outs) == 8
