"""Reference answers to EXERCISES.md (the same functions as exercises/exercises.py, filled in)."""
import math

import torch
import torch.nn.functional as F


# 1 ---------------------------------------------------------------------------------------------
def min_p_filter(logits, min_p):
    if min_p == 0:
        return logits
    probs = F.softmax(logits, -1)
    # compare probabilities, not logits: min_p scales the top probability
    return logits.masked_fill(probs < min_p * probs.max(-1, keepdim=True).values, float("-inf"))


# 2 ---------------------------------------------------------------------------------------------
def top_p_filter(logits, p):
    if p >= 1:
        return logits
    sorted_logits, order = torch.sort(logits, -1, descending=True)
    probs = F.softmax(sorted_logits, -1)
    cut = (probs.cumsum(-1) - probs) >= p          # the mass above a token already reaches p
    return logits.masked_fill(torch.zeros_like(cut).scatter(-1, order, cut), float("-inf"))


# 3 ---------------------------------------------------------------------------------------------
def entropy_bits(probs):
    terms = probs * torch.log2(probs.clamp_min(1e-45))
    return -torch.where(probs > 0, terms, torch.zeros_like(terms)).sum(-1)


# 4 ---------------------------------------------------------------------------------------------
def pass_at_k(n, c, k):
    if k > n:
        raise ValueError("k > n")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1 - k / i for i in range(n - c + 1, n + 1))


# 5 ---------------------------------------------------------------------------------------------
def non_commuting_example():
    # top-p 0.85 at T = 1 keeps 2 of [0.6, 0.3, 0.1] (mass above the 3rd is 0.9); heated to T = 2
    # first, the distribution is [0.47, 0.33, 0.19] and the mass above the 3rd is only 0.81: 3 kept
    return [0.6, 0.3, 0.1], 2.0, 0.85


# 6 ---------------------------------------------------------------------------------------------
def best_toy_T_train(top_p=0.85):
    import fsm
    teacher, best = fsm.teacher(), (None, -1.0)
    for i in range(31):
        t = round(0.5 + 0.05 * i, 2)
        _, success = fsm.best_temperature(fsm.analytic_student(teacher, t, 0, top_p), top_p=0.80)
        if success > best[1]:
            best = (t, success)
    return best


# 7 ---------------------------------------------------------------------------------------------
def fixed_point_gap():
    import fsm
    teacher = fsm.teacher()
    return (fsm.analytic_student(teacher, 1.0, 0, 1.0) - teacher).abs().max().item()


# 8 ---------------------------------------------------------------------------------------------
def first_token_weights(lengths, per_sequence):
    if per_sequence:
        return [1 / (sum(lengths) / len(lengths))] * len(lengths)
    return [1 / n for n in lengths]      # token mean: a short sequence's tokens weigh more
