"""Checks for EXERCISES.md. By default they run on the reference answers (solutions/); with
EXERCISES=mine they run on yours (exercises/exercises.py). The last test shows that every check
fails for an answer that does nothing, so a passing check means something."""
import importlib.util
import math
import os
import types

import pytest
import torch
import torch.nn.functional as F

import fsm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHICH = {"mine": "exercises/exercises.py"}.get(os.environ.get("EXERCISES"), "solutions/exercises.py")


def load(path):
    spec = importlib.util.spec_from_file_location("answers", os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kept(logits):
    return (logits > float("-inf")).tolist()


def check_min_p(m):
    x = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert kept(m.min_p_filter(x, 0.2)) == [True, True, True, False]     # threshold 0.1
    assert kept(m.min_p_filter(x, 0.0)) == [True] * 4
    assert kept(m.min_p_filter(x, 1.0)) == [True, False, False, False]


def check_top_p(m):
    x = torch.log(torch.tensor([0.5, 0.41, 0.09]))
    assert kept(m.top_p_filter(x, 0.9)) == [True, True, False]            # 0.41 crosses 0.9: kept
    assert kept(m.top_p_filter(x, 1.0)) == [True, True, True]
    assert kept(m.top_p_filter(x, 0.1)) == [True, False, False]           # at least one survives
    assert kept(m.top_p_filter(torch.log(torch.tensor([0.09, 0.5, 0.41])), 0.9)) == [False, True, True]


def check_entropy(m):
    assert m.entropy_bits(torch.tensor([0.5, 0.5])).item() == pytest.approx(1.0)
    assert m.entropy_bits(torch.full((8,), 0.125)).item() == pytest.approx(3.0)
    assert m.entropy_bits(torch.tensor([1.0, 0.0])).item() == 0.0


def check_pass_at_k(m):
    assert m.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert m.pass_at_k(10, 3, 5) == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))
    assert m.pass_at_k(10, 0, 5) == 0.0 and m.pass_at_k(10, 8, 5) == 1.0
    with pytest.raises(ValueError):
        m.pass_at_k(3, 1, 5)


def check_non_commuting(m):
    probs, t, p = m.non_commuting_example()
    logp = torch.log(torch.tensor(probs, dtype=torch.float64))
    first_t = (F.softmax(logp / t, -1).sort(descending=True).values.cumsum(-1) < p).sum() + 1
    first_p = (F.softmax(logp, -1).sort(descending=True).values.cumsum(-1) < p).sum() + 1
    assert min(first_t, len(probs)) != min(first_p, len(probs))


def check_best_toy_T_train(m):
    t, success = m.best_toy_T_train()
    _, recomputed = fsm.best_temperature(fsm.analytic_student(fsm.teacher(), t, 0, 0.85), top_p=0.80)
    assert success == pytest.approx(recomputed)
    assert success > 0.1377          # better than the paper's own T_train 0.9 (13.77 %)


def check_fixed_point(m):
    assert 0 <= m.fixed_point_gap() < 1e-12


def check_first_token_weights(m):
    assert m.first_token_weights([10, 40], per_sequence=False) == pytest.approx([0.1, 0.025])
    assert m.first_token_weights([10, 40], per_sequence=True) == pytest.approx([0.04, 0.04])


CHECKS = {name[6:]: f for name, f in globals().items() if name.startswith("check_")}


@pytest.fixture(scope="module")
def answers():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # the toy's tensors are tiny
    yield load(WHICH)
    torch.set_num_threads(threads)   # later tests (and their subprocesses) expect the default


@pytest.mark.parametrize("name", CHECKS)
def test_exercise(name, answers):
    CHECKS[name](answers)


def test_every_check_fails_for_an_answer_that_does_nothing():
    lazy = types.SimpleNamespace(
        min_p_filter=lambda x, p: x, top_p_filter=lambda x, p: x, entropy_bits=lambda p: p.sum(-1) * 0,
        pass_at_k=lambda n, c, k: c / n, non_commuting_example=lambda: ([0.5, 0.5], 1.0, 0.9),
        best_toy_T_train=lambda: (0.9, 0.1377), fixed_point_gap=lambda: -1.0,
        first_token_weights=lambda lengths, per_sequence: [1.0] * len(lengths))
    for name, check in CHECKS.items():
        with pytest.raises((AssertionError, ValueError)):
            check(lazy)
