"""The SSD stage: trains on response tokens only, never reads a solution, and runs end to end."""
import json

import pytest
from conftest import copy_benchmark
import torch

import evaluate
import sample
import train
from config import get_args
from model import GPT, GPTConfig

TINY = ["--n_layer=1", "--n_head=2", "--n_embd=32", "--block_size=192", "--batch_size=8", "--max_steps=6",
        "--warmup_steps=1", "--eval_interval=3", "--ckpt_interval=3", "--ssd_batch_size=8",
        "--eval_temperatures=0,1", "--eval_n=2"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return copy_benchmark(tmp_path_factory.mktemp("data"), pretrain=24, val=6, ssd=10, test=6)


def test_sft_loss_reaches_response_tokens_and_never_the_prompt():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=1024, block_size=32, n_layer=1, n_head=2, n_embd=16))
    prompt, response = [5, 6, 7, 8, 9], [10, 11, 12]
    x, y = train.collate([(prompt, response)], block_size=32, prompt_loss=False, multiple=1)
    logits, loss = model(x, y)
    logits.retain_grad()
    loss.backward()
    # position j predicts token j+1; the first response token (10) is predicted at position 4
    trained = logits.grad[0].abs().sum(-1) > 0
    assert trained.tolist() == [False, False, False, False, True, True, True]
    # the same pair with prompt_loss=True would train on the prompt too
    _, y_all = train.collate([(prompt, response)], block_size=32, prompt_loss=True)
    assert (y_all != -1).sum() == 7 and (y != -1).sum() == 3


def test_the_ssd_finetune_uses_the_response_only_loss(monkeypatch, tiny_data, tmp_path):
    seen = {}
    monkeypatch.setattr(train, "train", lambda *a, **k: seen.update(k) or "student")
    args = get_args(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}"])
    base = GPT(GPTConfig(vocab_size=1024, block_size=192, n_layer=1, n_head=2, n_embd=32))
    kept = [{"prompt": "def f(xs):\n", "completion": "    return 1\n", "tokens": [3, 4, 5]}]
    assert train.ssd_finetune(args, base, kept) == "student"
    assert seen["prompt_loss"] is False


def test_ssd_data_reads_only_prompts_never_solutions(monkeypatch, tiny_data, tmp_path):
    # Poison every solution-like field; the sampler must see exactly {task_id, prompt}.
    rows = [json.loads(line) for line in open(tiny_data / "ssd.jsonl")]
    poisoned = tmp_path / "data"
    poisoned.mkdir()
    for name in ("pretrain", "val", "test"):
        (poisoned / f"{name}.jsonl").write_text((tiny_data / f"{name}.jsonl").read_text())
    with open(poisoned / "ssd.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({**r, "canonical_solution": "POISON", "solution": "POISON"}) + "\n")
    asked = []
    real = sample.sample_completions
    monkeypatch.setattr(sample, "sample_completions",
                        lambda model, problems, *a, **k: asked.extend(problems) or real(model, problems, *a, **k))
    args = get_args(TINY + [f"--data_dir={poisoned}", f"--out_dir={tmp_path}"])
    torch.manual_seed(0)
    base = GPT(GPTConfig(vocab_size=1024, block_size=192, n_layer=1, n_head=2, n_embd=32)).eval()
    kept, stats = train.ssd_data(args, base)
    assert asked and all(set(p) == {"task_id", "prompt"} for p in asked)
    assert all("POISON" not in json.dumps(k) for k in kept)
    assert stats["prompts"] == len(rows)


def test_ssd_data_samples_with_the_recipe_it_was_given(monkeypatch, tiny_data, tmp_path):
    asked = {}
    real = sample.sample_completions
    monkeypatch.setattr(sample, "sample_completions",
                        lambda model, problems, t, n, **k: asked.update(k, t=t, n=n) or real(model, problems, t, n, **k))
    args = get_args(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--ssd_temperature=1.3",
                                  "--ssd_top_k=7", "--ssd_top_p=0.9", "--ssd_min_p=0.25"])
    torch.manual_seed(0)
    train.ssd_data(args, GPT(GPTConfig(vocab_size=1024, block_size=192, n_layer=1, n_head=2, n_embd=32)).eval())
    assert (asked["t"], asked["n"], asked["top_k"], asked["top_p"], asked["min_p"]) == (1.3, 1, 7, 0.9, 0.25)


def test_a_tiny_demo_runs_every_stage_and_writes_the_report(tiny_data, tmp_path):
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}"])
    for name in ("base.pt", "ssd.pt", "ssd_samples.jsonl", "ssd_report.md", "ssd_report.json", "base_sweep.json"):
        assert (tmp_path / name).exists(), name
    report = json.loads((tmp_path / "ssd_report.json").read_text())
    assert set(report["sweeps"]) == {"base", "SSD"}
    assert [r["temperature"] for r in report["sweeps"]["SSD"]] == [0.0, 1.0]
    assert "best-vs-best" in (tmp_path / "ssd_report.md").read_text()
    ci = report["bootstrap"]["best_vs_best"]["all"]
    assert ci["low"] <= ci["gain"] <= ci["high"] and "95 % CI" in (tmp_path / "ssd_report.md").read_text()
    # every judged sample is kept: 6 problems x (1 greedy copied to 2 + 2 at T 1), with its temperature
    for name in ("base_results.jsonl", "ssd_results.jsonl"):
        rows = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        assert len(rows) == 6 * 2 * 2 and {r["temperature"] for r in rows} == {0.0, 1.0}
        assert {"task_id", "completion", "verdict", "passed"} <= set(rows[0])
    # a second run reuses the finished base model instead of pretraining again
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--stage=pretrain"])
    assert "reusing" in buf.getvalue()


def test_a_control_run_reuses_the_base_model_and_its_evaluation(tiny_data, tmp_path, monkeypatch):
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}"])
    swept = []
    real = evaluate.sweep
    monkeypatch.setattr(evaluate, "sweep", lambda model, *a, **k: swept.append(model) or real(model, *a, **k))
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--stage=ssd", "--run=fixed_point",
                       "--ssd_temperature=1", "--ssd_top_k=0", "--ssd_top_p=1", "--ssd_min_p=0"])
    assert len(swept) == 1                      # only the new student was evaluated
    report = json.loads((tmp_path / "fixed_point_report.json").read_text())
    first = json.loads((tmp_path / "ssd_report.json").read_text())
    assert report["sweeps"]["base"] == first["sweeps"]["base"]
    assert report["args"]["ssd_temperature"] == 1.0


def test_the_ssd_seed_changes_the_ssd_samples_and_leaves_the_base_and_its_evaluation(tiny_data, tmp_path):
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--ssd_temperature=2"])
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--ssd_temperature=2", "--stage=ssd",
                       "--run=other", "--ssd_seed=5"])
    read = lambda name: [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
    assert [r["tokens"] for r in read("ssd_samples.jsonl")] != [r["tokens"] for r in read("other_samples.jsonl")]
    one, two = (json.loads((tmp_path / f"{r}_report.json").read_text()) for r in ("ssd", "other"))
    assert one["sweeps"]["base"] == two["sweeps"]["base"]
    assert (one["args"]["ssd_seed"], two["args"]["ssd_seed"]) == (0, 5)


def test_two_samples_per_prompt_double_the_ssd_data(tiny_data, tmp_path):
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--ssd_temperature=2", "--ssd_n=2"])
    rows = [json.loads(line) for line in (tmp_path / "ssd_samples.jsonl").read_text().splitlines()]
    report = json.loads((tmp_path / "ssd_report.json").read_text())
    assert report["ssd_data"]["prompts"] == 10 and report["ssd_data"]["samples"] == 20
    assert len(rows) == report["ssd_data"]["kept"] and {r["task_id"] for r in rows} <= {f"ssd/{i}" for i in range(10)}


def test_a_second_round_starts_from_the_first_round_and_still_compares_with_the_base(tiny_data, tmp_path, monkeypatch):
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}"])
    first = torch.load(tmp_path / "ssd.pt", weights_only=True)["model"]
    starts = []
    real = train.ssd_finetune
    monkeypatch.setattr(train, "ssd_finetune", lambda args, teacher, kept: starts.append(teacher.state_dict()) or real(args, teacher, kept))
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--stage=ssd", "--run=round2", "--ssd_from=ssd"])
    assert all(torch.equal(starts[0][k], first[k]) for k in first)
    two = json.loads((tmp_path / "round2_report.json").read_text())
    assert two["sweeps"]["base"] == json.loads((tmp_path / "ssd_report.json").read_text())["sweeps"]["base"]
    with pytest.raises(SystemExit, match="the run being made"):
        train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--stage=ssd", "--run=x", "--ssd_from=x"])


def test_the_online_variant_samples_every_batch_from_the_model_being_trained(tiny_data, tmp_path, monkeypatch):
    seen = []
    real = sample.sample_completions
    monkeypatch.setattr(sample, "sample_completions",
                        lambda model, problems, *a, **k: seen.append((model.training, len(problems))) or real(model, problems, *a, **k))
    train.main(TINY + [f"--data_dir={tiny_data}", f"--out_dir={tmp_path}", "--ssd_online", "--ssd_temperature=2"])
    # the SSD data (10 prompts), then one call of 8 prompts per fine-tune step (ceil(10 / 8) = 2 steps),
    # then the evaluation's calls on the 6 test problems
    assert seen[:3] == [(False, 10), (False, 8), (False, 8)] and {n for _, n in seen[3:]} == {6}
