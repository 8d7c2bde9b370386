"""Sampling: each transform against hand-computed numbers, then generate() and its KV cache."""
import argparse
import math

import pytest
import torch
import torch.nn.functional as F

import sample
from model import GPT, GPTConfig

NEG = float("-inf")


def logits_of(probs):
    return torch.log(torch.tensor(probs, dtype=torch.float64))


def final_probs(probs, **kw):
    return F.softmax(sample.process_logits(logits_of(probs), **kw), -1)


# --- top-p --------------------------------------------------------------------------------------
def test_top_p_keeps_the_token_that_crosses_the_threshold():
    # mass above each token: 0, 0.5, 0.91 -> the third is cut, the second (which crosses 0.9) stays
    kept = final_probs([0.5, 0.41, 0.09], top_p=0.9) > 0
    assert kept.tolist() == [True, True, False]


def test_top_p_of_one_keeps_every_token():
    assert (final_probs([0.5, 0.41, 0.09, 1e-9], top_p=1.0) > 0).all()


def test_top_p_below_the_top_probability_keeps_only_the_top_token():
    assert final_probs([0.5, 0.41, 0.09], top_p=0.3).tolist() == [1.0, 0.0, 0.0]


def test_top_p_renormalises_what_it_keeps():
    p = final_probs([0.5, 0.41, 0.09], top_p=0.9)
    assert torch.allclose(p, torch.tensor([0.5 / 0.91, 0.41 / 0.91, 0.0], dtype=torch.float64))


# --- top-k and min-p --------------------------------------------------------------------------
def test_top_k_keeps_every_token_tied_with_the_kth_value():
    kept = sample.top_k_filter(torch.tensor([3.0, 2.0, 2.0, 1.0]), 2) > NEG
    assert kept.tolist() == [True, True, True, False]


def test_top_k_of_zero_or_of_the_vocabulary_size_is_off():
    x = torch.tensor([3.0, 2.0, 1.0])
    assert torch.equal(sample.top_k_filter(x, 0), x) and torch.equal(sample.top_k_filter(x, 3), x)


def test_min_p_cuts_tokens_below_a_fraction_of_the_top_probability():
    # threshold 0.2 * 0.5 = 0.1: 0.05 goes, 0.15 stays
    kept = final_probs([0.5, 0.3, 0.15, 0.05], min_p=0.2) > 0
    assert kept.tolist() == [True, True, True, False]


def test_truncation_order_is_top_k_then_top_p():
    # top-k 2 leaves [0.4, 0.3] -> renormalised [0.571, 0.429]; top-p 0.5 then keeps one token.
    # (top-p first would keep two: the mass above 0.3 is only 0.4 < 0.5.)
    kept = final_probs([0.4, 0.3, 0.2, 0.1], top_k=2, top_p=0.5) > 0
    assert kept.tolist() == [True, False, False, False]


# --- temperature --------------------------------------------------------------------------------
def test_temperature_zero_is_greedy_without_dividing_by_zero():
    x = torch.tensor([[0.1, 2.0, 1.9], [5.0, -1.0, 5.0]])
    assert F.softmax(sample.apply_temperature(x, 0.0), -1).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert sample.sample_next(x, temperature=0.0).tolist() == [1, 0]   # first index on a tie


def test_temperature_tending_to_zero_tends_to_the_argmax():
    x = torch.tensor([0.1, 2.0, 1.9], dtype=torch.float64)
    assert F.softmax(sample.apply_temperature(x, 1e-3), -1).argmax() == 1
    assert F.softmax(sample.apply_temperature(x, 1e-3), -1)[1] > 1 - 1e-12


def test_temperature_one_without_truncation_leaves_the_distribution_unchanged():
    probs = [0.5, 0.25, 0.125, 0.125]
    assert torch.allclose(final_probs(probs), torch.tensor(probs, dtype=torch.float64))


def test_temperature_and_top_k_commute():
    x = torch.randn(5, 50, generator=torch.Generator().manual_seed(0))
    a = F.softmax(sample.top_k_filter(x / 0.7, 10), -1)
    b = F.softmax(sample.top_k_filter(x, 10) / 0.7, -1)
    assert torch.allclose(a, b)


def test_temperature_and_top_p_do_not_commute():
    # [0.6, 0.3, 0.1], top-p 0.85: at T = 1 the mass above the third token is 0.9 -> cut, 2 kept.
    # Heated to T = 2 first: sqrt -> [0.473, 0.334, 0.193], mass above the third is 0.807 -> 3 kept.
    x = logits_of([0.6, 0.3, 0.1])
    temperature_first = F.softmax(sample.top_p_filter(x / 2.0, 0.85), -1)
    top_p_first = F.softmax(sample.top_p_filter(x, 0.85) / 2.0, -1)
    assert (temperature_first > 0).sum() == 3 and (top_p_first > 0).sum() == 2


def test_bad_sampling_settings_raise_a_clear_error():
    for kw, msg in [({"temperature": -0.1}, "temperature"), ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"),
                    ({"top_k": -1}, "top_k"), ({"min_p": 2.0}, "min_p")]:
        with pytest.raises(ValueError, match=msg):
            sample.check_params(**kw)


# --- entropy ---------------------------------------------------------------------------------------
def test_entropy_in_bits_of_known_distributions():
    assert sample.entropy_bits(torch.tensor([0.5, 0.5])).item() == pytest.approx(1.0)
    assert sample.entropy_bits(torch.full((8,), 1 / 8)).item() == pytest.approx(3.0)
    # -0.97 log2 0.97 - 3 * 0.01 log2 0.01 = 0.0426 + 0.1993
    assert sample.entropy_bits(torch.tensor([0.97, 0.01, 0.01, 0.01])).item() == pytest.approx(0.2419, abs=1e-4)
    assert sample.entropy_bits(torch.tensor([1.0, 0.0, 0.0])).item() == 0.0


# --- drawing ----------------------------------------------------------------------------------------
def test_sampled_frequencies_match_the_final_distribution():
    # 200k draws with a fixed seed: deterministic, and each frequency is within 5 standard
    # errors (sd <= 0.0011) of the distribution computed by process_logits.
    torch.manual_seed(0)
    logits = torch.randn(1, 12, generator=torch.Generator().manual_seed(1)) * 2
    kw = dict(temperature=0.8, top_k=8, top_p=0.9)
    target = F.softmax(sample.process_logits(logits, **kw), -1)[0]
    n = 200_000
    draws = sample.sample_next(logits.expand(n, 12), generator=torch.Generator().manual_seed(2), **kw)
    freq = torch.bincount(draws, minlength=12).double() / n
    assert (freq[target == 0] == 0).all()                   # a cut token is never drawn
    sd = (target.double() * (1 - target.double()) / n).sqrt()
    assert ((freq - target.double()).abs() <= 5 * sd + 1e-12).all()


# --- generate() -------------------------------------------------------------------------------------
CFG = GPTConfig(vocab_size=1024, block_size=64, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GPT(CFG).eval()
    with torch.no_grad():   # make the eot token rare so rows run to their length limit
        m.wte.weight[1023] -= 0.5
    return m


def test_cached_and_uncached_greedy_generation_agree_token_for_token(model):
    prompts = [[5, 6, 7, 8, 9], [10, 11]]
    a = sample.generate(model, prompts, n=1, max_new_tokens=20, temperature=0.0)
    b = sample.generate(model, prompts, n=1, max_new_tokens=20, temperature=0.0, use_cache=False)
    assert a == b and all(len(x) == 20 for x in a)


def test_mixed_length_prompts_in_one_batch_match_one_by_one(model):
    prompts = [[1, 2, 3, 4, 5, 6, 7], [8], [9, 10, 11]]
    batched = sample.generate(model, prompts, max_new_tokens=15, temperature=0.0)
    alone = [sample.generate(model, [p], max_new_tokens=15, temperature=0.0)[0] for p in prompts]
    assert batched == alone


def test_rows_of_one_prompt_are_independent_from_the_first_token(model):
    outs = sample.generate(model, [[1, 2, 3]], n=32, max_new_tokens=3, temperature=1.0,
                           generator=torch.Generator().manual_seed(0))
    assert len({o[0] for o in outs}) > 16


def test_the_same_seed_gives_the_same_samples(model):
    kw = dict(n=4, max_new_tokens=10, temperature=1.0, top_k=50, top_p=0.9)
    a = sample.generate(model, [[1, 2], [3]], generator=torch.Generator().manual_seed(7), **kw)
    b = sample.generate(model, [[1, 2], [3]], generator=torch.Generator().manual_seed(7), **kw)
    c = sample.generate(model, [[1, 2], [3]], generator=torch.Generator().manual_seed(8), **kw)
    assert a == b and a != c


class Counter(torch.nn.Module):
    """A stand-in model: the next token is always last + 1, and <|endoftext|> after token 9."""

    def __init__(self):
        super().__init__()
        self.cfg = CFG
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, idx, targets=None, cache=None, key_mask=None, pos=None, last_only=False):
        if cache is not None:
            cache.len += idx.size(1)
        nxt = (idx[:, -1] + 1) % 1024
        nxt = torch.where(nxt == 10, torch.full_like(nxt, 1023), nxt)
        return F.one_hot(nxt, 1024).float()[:, None, :].expand(-1, idx.size(1), -1) * 10, None


def test_endoftext_stops_its_row_without_stopping_the_others():
    outs = sample.generate(Counter(), [[7], [2], [20]], max_new_tokens=6, temperature=0.0)
    assert outs == [[8, 9], [3, 4, 5, 6, 7, 8], [21, 22, 23, 24, 25, 26]]


def test_per_token_stats_report_raw_and_final_entropy_and_logprob(model):
    outs, stats = sample.generate(model, [[1, 2, 3]], n=2, max_new_tokens=5, temperature=0.7, top_k=5,
                                  generator=torch.Generator().manual_seed(0), return_stats=True)
    for o, st in zip(outs, stats):
        assert st.shape == (len(o), 4)
        raw_h, raw_lp, fin_h, fin_lp = st.T
        assert (fin_h <= math.log2(5) + 1e-5).all()          # at most 5 tokens survive top-k 5
        assert (raw_h > fin_h).all() and (fin_lp >= raw_lp).all()


def test_sample_completions_are_problem_major_seeded_and_greedy_is_copied():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=1024, block_size=96, n_layer=1, n_head=2, n_embd=16)).eval()
    probs = [{"task_id": f"t/{i}", "prompt": f"def f{i}(xs):\n" + "    " * i} for i in range(3)]
    out = sample.sample_completions(model, probs, temperature=1.0, n=3, max_new_tokens=5, batch_size=4, progress=False)
    assert [o["task_id"] for o in out] == ["t/0"] * 3 + ["t/1"] * 3 + ["t/2"] * 3
    assert all(o["completion"] == sample.get_tokenizer().decode(o["tokens"]) for o in out)
    again = sample.sample_completions(model, probs, temperature=1.0, n=3, max_new_tokens=5, batch_size=4, progress=False)
    assert out == again                                    # seeded
    greedy = sample.sample_completions(model, probs, temperature=0, n=3, max_new_tokens=5, progress=False)
    assert all(len({g["completion"] for g in greedy[i:i + 3]}) == 1 for i in range(0, 9, 3))


def test_show_dist_prints_only_the_stages_that_are_switched_on(capsys):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=1024, block_size=32, n_layer=1, n_head=2, n_embd=16)).eval()
    enc = sample.get_tokenizer()
    args = argparse.Namespace(position=0, temperature=0.7, top_k=0, top_p=0.8, min_p=1.0)
    sample.show_dist(model, enc.encode("def f(xs):\n"), [], args, enc)
    out = capsys.readouterr().out
    assert "raw (T = 1)" in out and "temperature 0.7" in out and "top-p 0.8" in out
    assert "top-k" not in out                              # k = 0 is off: no stage printed for it
    assert "min-p 1.0: entropy 0.00 bits" in out           # only the top token is left, and no "-0.00"
