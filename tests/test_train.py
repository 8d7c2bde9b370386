"""Pretraining: a few steps run; a killed run resumes to exactly the same model."""
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import copy_benchmark
import torch

import train
from config import get_args
from model import GPT, GPTConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--stage=pretrain", "--n_layer=1", "--n_head=2", "--n_embd=32", "--block_size=160", "--batch_size=4",
        "--warmup_steps=2", "--eval_interval=5", "--seed=3"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return str(copy_benchmark(tmp_path_factory.mktemp("data"), pretrain=40, val=8))


def test_a_few_steps_lower_the_loss_and_write_a_complete_checkpoint(tiny_data, tmp_path):
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--max_steps=20", "--lr=1e-2"])
    ckpt = torch.load(tmp_path / "base.pt", weights_only=False)
    assert ckpt["step"] == 20
    assert set(ckpt) >= {"model", "optimizer", "config", "args", "step", "rng", "history"}
    h = ckpt["history"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_diverging_run_stops_at_the_first_nan_with_one_line_and_saves_nothing(tiny_data, tmp_path):
    # a learning rate of 1,000 turns the weights into inf and the loss into nan within a few steps
    with pytest.raises(SystemExit) as e:
        train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--max_steps=20", "--lr=1e3"])
    assert e.value.code.startswith("error: training diverged at step ") and "learning rate 1000" in e.value.code
    assert "\n" not in e.value.code and not (tmp_path / "base.pt").exists()


def test_weights_broken_by_the_last_update_are_caught_before_a_save_even_with_a_finite_loss():
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16))
    loss = torch.tensor(2.5)                                        # measured before the update that broke the weights
    assert train.sound(loss, model, world=1, saving=True)
    with torch.no_grad():
        model.ln_f.weight[0] = float("inf")
    assert not train.sound(loss, model, world=1, saving=True)       # no checkpoint of these weights is written
    assert train.sound(loss, model, world=1, saving=False)          # between saves only the loss is checked (cheap)
    assert not train.sound(torch.tensor(float("nan")), model, world=1, saving=False)


def test_collate_masks_padding_and_optionally_the_prompt():
    x, y = train.collate([([1, 2, 3], [4, 5]), ([6], [7])], block_size=16, prompt_loss=False, multiple=1)
    # sequence 1 is 1 2 3 4 5: inputs 1 2 3 4, targets 2 3 4 5; targets 2 and 3 are prompt tokens
    assert x[0].tolist() == [1, 2, 3, 4] and y[0].tolist() == [-1, -1, 4, 5]
    # sequence 2 is 6 7: one real position, then padding
    assert x[1, 0].item() == 6 and y[1].tolist() == [7, -1, -1, -1]
    _, y_all = train.collate([([1, 2, 3], [4, 5])], block_size=16, prompt_loss=True, multiple=1)
    assert y_all[0].tolist() == [2, 3, 4, 5]


def test_padding_to_a_multiple_of_8_changes_the_length_but_not_the_loss():
    pairs = [([1, 2, 3], [4, 5, 6, 7, 8, 9]), ([6], [7, 8])]      # longest: 9 tokens, 8 positions
    x1, y1 = train.collate(pairs, block_size=16, multiple=1)
    x8, y8 = train.collate(pairs, block_size=16)
    assert x1.shape == (2, 8) and x8.shape == (2, 8)              # 8 is already a multiple of 8
    x8, y8 = train.collate(pairs + [([1, 2], [3, 4, 5, 6, 7, 8, 9, 10])], block_size=16)
    assert x8.shape == (3, 16) and (y8[:, 9:] == -1).all()        # 9 positions -> 16; no loss on the rest
    assert train.collate([([1] * 10, [2] * 5)], block_size=12)[0].shape == (1, 12)   # never past block_size
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=1024, block_size=16, n_layer=1, n_head=2, n_embd=16))
    loss1 = model(*train.collate(pairs, block_size=16, multiple=1))[1]
    loss8 = model(*train.collate(pairs, block_size=16, multiple=16))[1]
    assert loss8.item() == pytest.approx(loss1.item(), rel=1e-6)


def test_batches_are_a_pure_function_of_seed_and_step():
    lengths = list(range(100))
    a = [train.batch_indices(s, lengths, 8, seed=1) for s in range(30)]
    b = [train.batch_indices(s, lengths, 8, seed=1) for s in range(30)]
    assert a == b and a != [train.batch_indices(s, lengths, 8, seed=2) for s in range(30)]
    epoch = sorted(i for s in range(12) for i in a[s])       # 100 // 8 = 12 batches an epoch
    assert len(set(epoch)) == len(epoch) == 96


def test_bad_settings_get_a_one_line_error(capsys):
    for bad in (["--max_steps=0"], ["--lr=-1"], ["--n_embd=30", "--n_head=4"], ["--dropout=1.5"],
                ["--ssd_min_p=1.5"]):
        with pytest.raises(SystemExit) as e:
            get_args(bad)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("train.py: error:") or "error:" in err[-1]


def test_sigkill_then_resume_gives_the_same_model_as_an_uninterrupted_run(tiny_data, tmp_path):
    args = TINY + [f"--data_dir={tiny_data}", "--max_steps=150", "--ckpt_interval=5", "--eval_interval=1000"]
    # Bit-identical floats need the same number of threads in every part of the run (a parallel sum
    # adds in a different order); the killed part runs in a subprocess, so pin all parts to one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _sigkill_then_resume(args, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _sigkill_then_resume(args, tmp_path):
    # the reference: one uninterrupted run
    train.main(args + [f"--out_dir={tmp_path / 'ref'}"])
    ref = torch.load(tmp_path / "ref" / "base.pt", weights_only=False)
    # the same run, killed with SIGKILL once it has written a checkpoint, then resumed
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "train.py", *args, f"--out_dir={out}"], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (out / "base.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "base.pt", weights_only=False)["step"]   # loads: never corrupt
    assert 0 < killed_at < 150, "the run should have been killed half-way; make it longer"
    train.main(args + [f"--out_dir={out}", "--resume"])
    resumed = torch.load(out / "base.pt", weights_only=False)
    assert resumed["step"] == 150
    for k, v in ref["model"].items():
        assert torch.equal(v, resumed["model"][k]), k


def test_the_header_of_train_py_states_the_default_ssd_recipe():
    # train.py's docstring shows the recipe so that a reader need not open config.py; this keeps them equal
    a, doc = get_args([]), train.__doc__
    assert (a.ssd_temperature, a.ssd_top_k, a.ssd_top_p, a.ssd_min_p) == (1.6, 20, 0.8, 0.3)
    assert "T_train 1.6, top-k 20, top-p 0.8" in doc and "min-p 0.3" in doc
    assert (a.ssd_epochs, a.ssd_lr, a.ssd_batch_size, a.ssd_prompts) == (1.0, 3e-4, 32, 0)
    assert "1 epoch, lr 3e-4, batch 32" in doc
    assert sum(1 for _ in open(os.path.join(a.data_dir, "ssd.jsonl"))) == 2000 and "2,000 prompts" in doc


def test_cpu_bf16_multiplies_the_blocks_in_bf16_but_keeps_attention_and_logits_in_fp32(tiny_data):
    from model import GPT, GPTConfig
    import runs
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16))
    idx = torch.randint(0, 64, (2, 16))
    seen = {}
    model.blocks[0].attn.qkv.register_forward_hook(lambda m, i, o: seen.update(qkv=o.dtype))
    fp32_logits, fp32_loss = model(idx, idx)
    with train.autocast("cpu", cpu_bf16=True):
        logits, loss = model(idx, idx)
    assert seen["qkv"] == torch.bfloat16 and logits.dtype == torch.float32
    assert not torch.equal(logits, fp32_logits) and torch.allclose(loss, fp32_loss, rtol=1e-2)   # bf16 rounding only
    args = get_args([f"--data_dir={tiny_data}"])
    assert "cpu_bf16" not in runs.fingerprint(args)                # off (fp32, the default): no key names it
    assert runs.fingerprint(get_args([f"--data_dir={tiny_data}", "--cpu_bf16"]))["cpu_bf16"] is True


def test_validation_loss_is_the_mean_over_loss_tokens_in_any_order():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=1024, block_size=32, n_layer=1, n_head=2, n_embd=16))
    g = torch.Generator().manual_seed(1)
    pairs = [(torch.randint(1024, (1 + i % 5,), generator=g).tolist(), torch.randint(1024, (1 + i % 23,), generator=g).tolist())
             for i in range(70)]                                  # 70 sequences: two batches of at most 64
    args = get_args(["--block_size=32"])
    x, y = train.collate(pairs, block_size=32, multiple=1)        # one batch: the mean over all loss tokens
    whole = model(x, y)[1].item()
    assert train.val_loss(model, pairs, args) == pytest.approx(whole, rel=1e-5)
    assert train.val_loss(model, pairs[::-1], args) == pytest.approx(whole, rel=1e-5)
    assert model.training                                         # back in training mode afterwards
    # SFT validation (loss on the response only): a prompt that fills the block leaves no loss
    # token; sorted last, it makes a batch of its own, which must count for nothing (not NaN)
    x, y = train.collate(pairs[:64], block_size=32, prompt_loss=False, multiple=1)
    sft = model(x, y)[1].item()
    assert train.val_loss(model, pairs[:64] + [([7] * 40, [8])], args, prompt_loss=False) == pytest.approx(sft, rel=1e-5)
