"""The fork/lock toy (fsm.py): every number the paper states, the fixed point, and the wiring."""
import ast
import math
import os
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fsm
import sample

PAPER_SSD = (0.9, 0, 0.85)      # (T_train, top_k, top_p)
TEMP_ONLY = (0.9, 0, 1.0)
TRUNC_ONLY = (1.0, 0, 0.85)
FIXED_POINT = (1.0, 0, 1.0)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # the toy's tensors hold 48 numbers; on a busy 2-core box a second thread only adds waiting
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def trained_ssd():
    return fsm.train_student(fsm.teacher(), *PAPER_SSD, seed=0)


def best_pct(probs):
    t, p = fsm.best_temperature(probs, top_p=0.80)
    return t, round(100 * p, 2)


# --- the machine ----------------------------------------------------------------------------
def test_states_have_the_stated_heads_geometric_tails_and_entropies():
    T = fsm.teacher()
    assert T.dtype == torch.float64 and T.shape == (3, 16)
    assert torch.allclose(T.sum(-1), torch.ones(3, dtype=torch.float64), atol=1e-15)
    for s, name in enumerate(fsm.NAMES):
        head, ratio = fsm.SPEC[name]
        assert T[s, :4].tolist() == pytest.approx(head, abs=1e-15)
        assert (T[s, 5:] / T[s, 4:-1]).tolist() == pytest.approx([ratio] * 11, rel=1e-12)
    H = sample.entropy_bits(T)
    assert round(H[fsm.LOCK].item(), 2) == 1.61
    assert round(H[fsm.FORK].item(), 2) == 2.81


def test_fsm_uses_the_transforms_of_sample_py_and_defines_no_copies():
    for name in ("process_logits", "entropy_bits"):
        assert getattr(fsm, name) is getattr(sample, name)
    src = open(os.path.join(os.path.dirname(fsm.__file__), "fsm.py")).read()
    defined = {n.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef)}
    assert not defined & {"apply_temperature", "top_k_filter", "top_p_filter", "min_p_filter",
                          "process_logits", "entropy_bits", "softmax"}


def np_decode(p, temps, top_p):
    """An independent numpy decoder, vectorised over temperatures: (S, 16) -> (nT, S, 16)."""
    logits = np.log(p)[None] / np.asarray(temps)[:, None, None]
    q = np.exp(logits - logits.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    order = np.argsort(-q, axis=-1, kind="stable")
    qs = np.take_along_axis(q, order, -1)
    cut_sorted = np.cumsum(qs, -1) - qs >= top_p
    cut = np.zeros_like(cut_sorted)
    np.put_along_axis(cut, order, cut_sorted, -1)
    q = np.where(cut, 0.0, q)
    return q / q.sum(-1, keepdims=True)


def test_search_finds_the_same_optimum_as_a_brute_force_numpy_sweep():
    # 0.0001 steps everywhere the optimum could be: the grid-then-refine search must not miss it,
    # and sample.py's transforms in float64 must agree with a decoder written from scratch
    temps = np.round(np.arange(0.05, 3.0, 0.0001), 4)
    T = fsm.teacher()
    for probs in (T, fsm.analytic_student(T, *PAPER_SSD)):
        with np.errstate(divide="ignore"):
            q = np_decode(probs.numpy(), temps, 0.80)
        s = (q[:, 0, 0] + q[:, 0, 1]) * q[:, 1, 0] * q[:, 2, 0] ** 3
        t_best, p_best = fsm.best_temperature(probs, 0.80)
        assert p_best == pytest.approx(s.max(), abs=1e-12)
        assert t_best == pytest.approx(temps[s.argmax()], abs=1.5e-4)


def test_success_is_exact_for_a_hand_checkable_case():
    # at T = 1 with no truncation the decoded teacher is the teacher
    T = fsm.teacher()
    expected = (0.200 + 0.190) * 0.148 * 0.750 ** 3
    assert fsm.success(fsm.decode(T)) == pytest.approx(expected, abs=1e-15)
    # greedy takes tok2 at the root, a FAIL token: the greedy teacher never passes
    assert fsm.success(fsm.decode(T, 0.0, 0, 0.8)) == 0.0


# --- the numbers the paper states -----------------------------------------------------------
def test_teacher_best_is_8_33_percent_at_T_0_639():
    t, pct = best_pct(fsm.teacher())
    assert pct == 8.33
    assert abs(t - 0.639) <= 0.001


def test_ssd_student_best_is_13_77_percent_at_T_2_09():
    t, pct = best_pct(fsm.analytic_student(fsm.teacher(), *PAPER_SSD))
    assert pct == 13.77
    assert round(t, 2) == 2.09


def test_ssd_keeps_two_lock_tokens_five_fork_tokens_four_root_tokens():
    S = fsm.analytic_student(fsm.teacher(), *PAPER_SSD)
    lock = S[fsm.LOCK][S[fsm.LOCK] > 0]
    assert [round(p, 3) for p in lock.tolist()] == [0.948, 0.052]
    assert int((S[fsm.FORK] > 0).sum()) == 5
    assert int((S[fsm.ROOT] > 0).sum()) == 4
    # and it keeps the right ones: both path tokens at the root, tok0 at the fork
    assert S[fsm.ROOT, :2].min() > 0 and S[fsm.FORK, 0] > 0


def test_temperature_only_ssd_gives_no_gain():
    T = fsm.teacher()
    t_teacher, _ = best_pct(T)
    t, pct = best_pct(fsm.analytic_student(T, *TEMP_ONLY))
    assert pct == 8.33
    # the student is just the teacher at a temperature scaled by 0.9, so evaluating it at T
    # is the teacher at 0.9 T: the whole curve stretches, its peak does not move
    assert t * 0.9 == pytest.approx(t_teacher, abs=2e-4)


def test_truncation_only_ssd_gives_10_45_percent():
    _, pct = best_pct(fsm.analytic_student(fsm.teacher(), *TRUNC_ONLY))
    assert pct == 10.45


# --- the trained student --------------------------------------------------------------------
def test_trained_student_best_is_within_half_a_point_of_the_analytic_one(trained_ssd):
    student, info = trained_ssd
    _, p_trained = fsm.best_temperature(student, 0.80)
    _, p_analytic = fsm.best_temperature(fsm.analytic_student(fsm.teacher(), *PAPER_SSD), 0.80)
    assert abs(p_trained - p_analytic) < 0.005
    # it learned the truncation from samples alone: never-sampled tokens end up near zero
    assert info["leftover"] < 1e-4


def test_training_converges_to_the_empirical_frequencies(trained_ssd):
    # cross-entropy's optimum for free logits is the sampled frequency of each token;
    # 1000 cosine-decayed Adam steps must get there (this is what "SFT converges to" means)
    student, info = trained_ssd
    counts = info["counts"]
    seen = counts > 0
    freq = counts / counts.sum(-1, keepdim=True)
    assert (student - freq)[seen].abs().max() < 1e-4


def test_walks_train_on_failures_too_and_pass_at_the_exact_rate():
    q = fsm.decode(fsm.teacher(), *PAPER_SSD)
    n = 100_000
    states, tokens, n_pass = fsm.sample_walks(q, n, torch.Generator().manual_seed(1))
    p = fsm.success(q)
    assert abs(n_pass - n * p) < 4 * math.sqrt(n * p * (1 - p))
    # no PASS/FAIL filter: the root's FAIL token tok2 is in the training data at its sampled rate
    root_tok2 = ((states == fsm.ROOT) & (tokens == 2)).sum().item()
    assert abs(root_tok2 / n - q[fsm.ROOT, 2].item()) < 0.01
    assert len(states) > n      # forks and locks were visited too


def test_grouped_loss_equals_per_visit_cross_entropy():
    q = fsm.decode(fsm.teacher(), *PAPER_SSD)
    states, tokens, _ = fsm.sample_walks(q, 5_000, torch.Generator().manual_seed(2))
    counts = torch.zeros(3, 16, dtype=torch.float64).index_put_(
        (states, tokens), torch.ones(len(states), dtype=torch.float64), accumulate=True)
    logits = torch.randn(3, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    per_visit = F.cross_entropy(logits[states], tokens)
    assert fsm.ce_from_counts(logits, counts).item() == pytest.approx(per_visit.item(), rel=1e-12)


# --- the fixed point: T_train = 1, no truncation --------------------------------------------
def test_fixed_point_analytic_student_is_the_teacher():
    T = fsm.teacher()
    # softmax(log p) = p up to float64 rounding (one ulp of the normalising sum)
    assert (fsm.analytic_student(T, *FIXED_POINT) - T).abs().max() < 1e-15


def test_fixed_point_expected_gradient_is_zero_and_ssd_gradient_is_not():
    # with infinitely many samples the counts are proportional to the decoded teacher, and the
    # cross-entropy gradient at the teacher's logits is teacher - decoded teacher
    T = fsm.teacher()
    for recipe, zero in ((FIXED_POINT, True), (PAPER_SSD, False)):
        logits = T.log().requires_grad_(True)
        fsm.ce_from_counts(logits, fsm.decode(T, *recipe)).backward()
        assert (logits.grad.abs().max() < 1e-15) == zero


def test_fixed_point_training_moves_the_teacher_only_by_sampling_noise():
    T = fsm.teacher()
    student, info = fsm.train_student(T, *FIXED_POINT, seed=0)
    tv = 0.5 * (student - T).abs().sum(-1)
    # the total-variation distance of an empirical distribution from n draws to its source is
    # about 0.5 * sum_t sqrt(p_t (1 - p_t) / n) (mean absolute deviation <= standard deviation);
    # allow twice that. The SSD recipe moves each state ~20x further (0.14 - 0.20).
    n = torch.tensor(info["visits"], dtype=torch.float64)
    noise = 0.5 * (T * (1 - T) / n[:, None]).sqrt().sum(-1)
    assert (tv < 2 * noise).all(), (tv, noise)
    ssd_tv = 0.5 * (fsm.analytic_student(T, *PAPER_SSD) - T).abs().sum(-1)
    assert (ssd_tv > 10 * noise).all()
    _, p_student = fsm.best_temperature(student, 0.80)
    _, p_teacher = fsm.best_temperature(T, 0.80)
    assert abs(p_student - p_teacher) < 0.005


# --- the command line -----------------------------------------------------------------------
def test_default_run_prints_states_sweep_and_best_temperatures_fast(capsys):
    t0 = time.time()
    fsm.main([])
    elapsed = time.time() - t0
    out = capsys.readouterr().out
    assert elapsed < 30
    for text in ("ROOT", "FORK", "LOCK", "1.61 bits, 16 tokens", "2.81 bits, 12 tokens",
                 "0.29 bits, 2 tokens", "8.33%*", "13.77%*",
                 "best teacher         8.33% at T = 0.6394",
                 "best SSD analytic   13.77% at T = 2.0941", "best SSD trained"):
        assert text in out, text


@pytest.mark.parametrize("flag, pct", [("--temp_only", "8.33%"), ("--trunc_only", "10.45%")])
def test_ablation_flags_set_their_recipe(capsys, flag, pct):
    fsm.main([flag, "--no_train"])
    out = capsys.readouterr().out
    assert f"best SSD analytic    {pct}" in out or f"best SSD analytic   {pct}" in out
    assert "SSD trained" not in out


def test_any_recipe_from_the_command_line(capsys):
    fsm.main(["--T_train=1.6", "--top_k=5", "--top_p=0.8", "--no_train"])
    out = capsys.readouterr().out
    assert "T_train 1.6, top-k 5, top-p 0.8" in out
    # top-k 5 on its own would keep 5 lock tokens; top-p 0.8 after it decides the rest
    S = fsm.analytic_student(fsm.teacher(), 1.6, 5, 0.8)
    assert int((S > 0).sum(-1).max()) <= 5


def test_conflicting_or_bad_flags_are_refused():
    for argv in (["--temp_only", "--trunc_only"], ["--top_p=0"], ["--T_train=0"], ["--samples=0"]):
        with pytest.raises(SystemExit):
            fsm.main(argv)
