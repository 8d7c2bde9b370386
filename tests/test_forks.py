"""forks.py: locks and forks measured in a model (the paper's Fig. 6), on a stand-in model whose
locks and forks are known."""
import math

import pytest
import torch

import forks
from data.tokenizer import get_tokenizer

NEG = float("-inf")


class LocksAndForks(torch.nn.Module):
    """A stand-in model: even positions are locks with distribution `lock` over tokens 0..3,
    odd positions are forks, uniform over tokens 0..3."""

    def __init__(self, lock):
        super().__init__()
        self.lock = torch.log(torch.tensor(lock))

    def forward(self, idx, *args, **kw):
        self.grad_was_on = torch.is_grad_enabled()
        logits = torch.full((1, idx.size(1), 1024), NEG)
        logits[0, 0::2, :4] = self.lock
        logits[0, 1::2, :4] = math.log(0.25)
        return logits, None


def test_show_forks_measures_lock_tails_fork_entropy_and_surviving_tokens(capsys):
    from types import SimpleNamespace
    enc = get_tokenizer()
    problem = {"prompt": "def f(xs):\n", "canonical_solution": "    return xs\n"}
    n_scored = len(enc.encode(problem["canonical_solution"])) + 1          # the solution and <|endoftext|>
    models = {"base": LocksAndForks([0.97, 0.01, 0.01, 0.01]), "sharp": LocksAndForks([1.0, 0.0, 0.0, 0.0])}
    out = forks.show_forks(models, [problem], SimpleNamespace(top_k=20, top_p=0.95), enc)
    base, sharp = out["base"], out["sharp"]
    locks = sum(1 for i in range(n_scored) if (len(enc.encode(problem["prompt"])) - 1 + i) % 2 == 0)
    assert base["share_locks"] == pytest.approx(locks / n_scored)   # 0.24 bits < 0.5: a lock
    assert base["share_forks"] == pytest.approx(1 - locks / n_scored)  # 2 bits > 1.5: a fork
    assert base["tail_beyond_top1_at_locks"] == pytest.approx(0.03, abs=1e-6) and sharp["tail_beyond_top1_at_locks"] == 0
    assert base["fork_entropy"] == pytest.approx(2.0, abs=1e-6) and base["p_base_favourite_at_forks"] == pytest.approx(0.25, abs=1e-6)
    # top-p 0.95 at a lock: at T = 1 the 0.97 alone reaches it; at T = 1.3 the top token has
    # 0.97^(1/1.3) / (0.97^(1/1.3) + 3 * 0.01^(1/1.3)) = 0.919, and 0.919 + 0.027 < 0.95: three survive
    assert base["kept_at_locks_T1"] == 1 and base["kept_at_locks_T1.3"] == 3
    assert base["kept_at_forks_T1"] == 4 and sharp["kept_at_locks_T1.6"] == 1
    # after truncation at T 1: a lock keeps one token (0 bits), a fork its four equal ones (2 bits);
    # the top 1 / top 3 of a fork hold 1/4 and 3/4 of its mass
    assert base["entropy_at_locks_T1"] == pytest.approx(0, abs=1e-6)
    assert base["entropy_at_forks_T1"] == pytest.approx(2.0, abs=1e-5)
    assert (base["top1_mass_at_forks"], base["top3_mass_at_forks"]) == pytest.approx((0.25, 0.75), abs=1e-6)
    shown = capsys.readouterr().out
    for label in ("rank r", "probability of the top r tokens, at forks",
                  "tokens surviving truncation, at forks", "entropy after truncation, bits"):
        assert label in shown


def test_checkpoints_with_the_same_file_name_get_their_folder_in_the_column_name():
    assert forks.column_names(["out/base.pt", "out/ssd.pt"]) == ["base", "ssd"]
    assert forks.column_names(["out/seed0/base.pt", "out/seed1/base.pt"]) == ["seed0/base", "seed1/base"]


def test_measuring_forks_keeps_no_autograd_graph():
    """Hundreds of teacher-forced passes: with autograd on, every one's graph would be kept in memory."""
    from types import SimpleNamespace
    model = LocksAndForks([0.97, 0.01, 0.01, 0.01])
    model.scale = torch.nn.Parameter(torch.ones(()))          # a weight whose graph autograd would record
    forward = model.forward
    model.forward = lambda idx, *a, **k: (forward(idx)[0] * model.scale, None)
    forks.show_forks({"base": model}, [{"prompt": "def f(xs):\n", "canonical_solution": "    return xs\n"}],
                     SimpleNamespace(top_k=0, top_p=1.0), get_tokenizer())
    assert model.grad_was_on is False
