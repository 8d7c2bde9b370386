"""Your answers to EXERCISES.md. Replace each `raise NotImplementedError` with your code, then run
    EXERCISES=mine python -m pytest tests/test_exercises.py -k <name>
The reference answers are in solutions/exercises.py: try first, peek later."""
import torch  # noqa: F401 (you will need it)


# 1 ---------------------------------------------------------------------------------------------
def min_p_filter(logits, min_p):
    """Set to -inf every logit whose probability is below min_p times the top probability.
    min_p = 0 changes nothing. logits: a tensor (..., V)."""
    raise NotImplementedError


# 2 ---------------------------------------------------------------------------------------------
def top_p_filter(logits, p):
    """Nucleus: keep the most likely tokens until their mass reaches p (keep the token that
    crosses p, always keep at least one); -inf for the rest. p = 1 changes nothing."""
    raise NotImplementedError


# 3 ---------------------------------------------------------------------------------------------
def entropy_bits(probs):
    """Shannon entropy in bits along the last axis; 0 * log 0 counts as 0."""
    raise NotImplementedError


# 4 ---------------------------------------------------------------------------------------------
def pass_at_k(n, c, k):
    """Unbiased pass@k from n samples of which c are correct (raise ValueError if k > n)."""
    raise NotImplementedError


# 5 ---------------------------------------------------------------------------------------------
def non_commuting_example():
    """Return (probs, T, p): a distribution (a list), a temperature and a top-p for which
    "temperature, then top-p" keeps a different number of tokens than "top-p, then temperature"."""
    raise NotImplementedError


# 6 ---------------------------------------------------------------------------------------------
def best_toy_T_train(top_p=0.85):
    """With fsm.py: the T_train in 0.50, 0.55, ..., 2.00 whose analytic SSD student, decoded at
    its own best evaluation temperature (top-p 0.80), succeeds most often. Return (T_train, success)."""
    raise NotImplementedError


# 7 ---------------------------------------------------------------------------------------------
def fixed_point_gap():
    """With fsm.py: the largest absolute difference between the teacher's probabilities and those
    of the analytic student trained at T_train = 1 without truncation."""
    raise NotImplementedError


# 8 ---------------------------------------------------------------------------------------------
def first_token_weights(lengths, per_sequence):
    """Two sequences of `lengths` tokens sit in two batches of one. With a loss that averages over
    a batch's tokens (per_sequence=False), or one that divides every batch by the same constant
    (per_sequence=True, the constant = the mean length), what weight does each sequence's FIRST
    token get in the gradient? Return a list, one weight per sequence."""
    raise NotImplementedError
