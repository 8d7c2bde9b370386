"""The GPT: shapes, a sane start, it can learn, the loss mask works, the head is tied."""
import math

import pytest
import torch
import torch.nn.functional as F

from model import GPT, GPTConfig, KVCache

CFG = GPTConfig(vocab_size=97, block_size=32, n_layer=2, n_head=2, n_embd=32)


def make(seed=0, cfg=CFG):
    torch.manual_seed(seed)
    return GPT(cfg)


def test_logits_have_one_row_per_position_and_token():
    x = torch.randint(0, 97, (3, 10))
    logits, loss = make()(x)
    assert logits.shape == (3, 10, 97) and loss is None


def test_initial_loss_is_about_ln_vocab():
    # small init -> almost uniform predictions -> cross-entropy ~ ln(V)
    cfg = GPTConfig(vocab_size=1024, block_size=64, n_layer=4, n_head=4, n_embd=128)
    x = torch.randint(0, 1024, (8, 64))
    _, loss = make(cfg=cfg)(x, torch.randint(0, 1024, (8, 64)))
    assert abs(loss.item() - math.log(1024)) < 0.1


def test_loss_falls_when_overfitting_one_tiny_batch():
    model = make()
    x = torch.randint(0, 97, (4, 16))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(80):
        _, loss = model(x[:, :-1], x[:, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.25 * first


def test_targets_of_minus_one_are_left_out_of_the_loss():
    model = make()
    x = torch.randint(0, 97, (2, 8))
    y = torch.randint(0, 97, (2, 8))
    y[0, :5] = -1
    y[1, 6:] = -1
    logits, loss = model(x, y)
    keep = y != -1
    manual = F.cross_entropy(logits[keep], y[keep])
    assert torch.allclose(loss, manual)
    # and the masked positions get no gradient through the loss
    logits.retain_grad()
    model.zero_grad()
    logits2, loss2 = model(x, y)
    logits2.retain_grad()
    loss2.backward()
    assert logits2.grad[~keep].abs().max() == 0 and logits2.grad[keep].abs().max() > 0


def test_lm_head_is_tied_to_the_token_embedding():
    model = make()
    assert model.lm_head.weight is model.wte.weight
    n = sum(p.numel() for p in model.parameters())
    assert model.num_params() == n
    assert model.num_params(non_embedding=True) == n - 97 * 32 - 32 * 32


def test_a_later_token_never_changes_earlier_logits():
    model = make()
    x = torch.randint(0, 97, (1, 12))
    x2 = x.clone()
    x2[0, 7] = (x[0, 7] + 1) % 97
    a, _ = model(x)
    b, _ = model(x2)
    assert torch.allclose(a[0, :7], b[0, :7], atol=1e-6)
    assert not torch.allclose(a[0, 7:], b[0, 7:])


def test_sequences_longer_than_block_size_are_refused():
    with pytest.raises(ValueError, match="block_size"):
        make()(torch.zeros(1, 33, dtype=torch.long))


def test_the_kv_cache_gives_the_logits_of_the_whole_sequence_as_rows_repeat_grow_and_leave():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=64, n_layer=2, n_head=2, n_embd=16)).eval()
    prompts = [[1, 2, 3, 4, 5], [6, 7]]                       # left-padded to 5 columns
    ids = torch.tensor([[1, 2, 3, 4, 5], [0, 0, 0, 6, 7]])
    key_mask = ids != 0
    pos = (key_mask.cumsum(1) - 1).clamp(min=0)
    cache = KVCache(model.cfg, key_mask, max_new=20)
    with torch.no_grad():
        model(ids, cache=cache, key_mask=key_mask, pos=pos)
        rows = torch.tensor([0, 0, 0, 1, 1, 1])                 # three samples of each prompt
        cache.select(rows)
        seqs, masks, poss = ids[rows], key_mask[rows], pos[rows]
        for step in range(20):                                 # past GROW = 16 new positions
            if step == 8:                                      # rows leave: one of prompt 0 is kept
                keep = torch.tensor([2, 4, 5])
                cache.select(keep)
                seqs, masks, poss = seqs[keep], masks[keep], poss[keep]
            if step == 12:                                     # every row of prompt 0 has left
                cache.select(torch.tensor([2, 1]))             # ...and the others swap places
                seqs, masks, poss = seqs[[2, 1]], masks[[2, 1]], poss[[2, 1]]
                assert cache.prompts.size(2) == 1              # its prompt is dropped as well
            tok = torch.randint(8, 64, (len(seqs), 1))
            seqs, masks = torch.cat([seqs, tok], 1), torch.cat([masks, torch.ones_like(tok, dtype=torch.bool)], 1)
            poss = torch.cat([poss, poss[:, -1:] + 1], 1)
            cached = model(tok, cache=cache, pos=poss[:, -1:])[0][:, -1]
            whole = model(seqs, key_mask=masks, pos=poss)[0][:, -1]
            assert torch.allclose(cached, whole, atol=1e-5), step
        assert cache.prompts.size(2) == 1 and len(prompts) == 2
        with pytest.raises(ValueError, match="full"):
            model(tok, cache=cache, pos=poss[:, -1:] + 1)


def test_the_kv_cache_stores_each_prompt_once_for_its_samples():
    model = GPT(GPTConfig(vocab_size=64, block_size=32, n_layer=1, n_head=2, n_embd=8)).eval()
    key_mask = torch.ones(3, 4, dtype=torch.bool)
    cache = KVCache(model.cfg, key_mask, max_new=8)
    with torch.no_grad():
        model(torch.ones(3, 4, dtype=torch.long), cache=cache, key_mask=key_mask)
    before = cache.prompts
    cache.select(torch.arange(3))                              # the same rows: nothing copied
    assert cache.prompts is before
    cache.select(torch.arange(3).repeat_interleave(5))         # 5 samples per prompt
    assert cache.prompts.shape[2:4] == (3, 2) and cache.group.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert cache.slot.tolist() == [0, 1, 2, 3, 4] * 3 and cache.width == 5


def test_logits_of_the_last_position_only_are_those_of_the_full_forward():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=32, n_layer=2, n_head=2, n_embd=16)).eval()
    idx = torch.randint(0, 64, (3, 9))
    # equal up to float rounding: a BLAS may sum a 3-row product in another order than a 27-row one
    assert torch.allclose(model(idx, last_only=True)[0][:, -1], model(idx)[0][:, -1], rtol=0, atol=1e-6)
