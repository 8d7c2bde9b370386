"""A small GPT, nanoGPT style: read it top to bottom.

    from model import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=1024))
    logits, loss = model(idx, targets)        # targets == -1 are ignored by the loss

Token + learned position embeddings -> n_layer pre-norm blocks (causal self-attention through
PyTorch's scaled_dot_product_attention, then an MLP) -> final LayerNorm -> LM head. The LM head
shares its weight with the token embedding ("tied"): the logit of token v is the dot product of
the last hidden state with v's embedding. softmax(logits / T) is the distribution that
sample.py reshapes with temperature, top-k and top-p.

Precision: the model computes in the dtype it is given (fp32 on a CPU; bf16 under a GPU's
autocast), with one rule of its own on a CPU: attention and the LM head always run in fp32, even
inside a bf16 autocast. bf16 attention is slower than fp32 on CPUs, and bf16 logits trained a
worse model; the blocks' linear layers are where bf16 pays (docs/gpu.md).

Another model family (a Llama-style model loaded from real weights, say) would be a file of its
own beside this one, with the same forward(idx, targets) -> (logits, loss) and KV cache calls.
"""
import hashlib
import math
import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 1024
    block_size: int = 256      # longest sequence (prompt + completion) the model sees
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.dropout = cfg.dropout

    def forward(self, x, mask=None, cache=None, layer=0):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, heads, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None and cache.len > 0:   # one new token per row: the cache attends (KVCache.attend)
            y = cache.attend(layer, q, k, v)
        else:
            if cache is not None:                 # the prefill: keep the prompts' keys and values
                cache.store_prompts(layer, k, v)
            with torch.autocast("cpu", enabled=False):   # the precision rule (top): attention in fp32 on a CPU
                if x.device.type == "cpu":
                    q, k, v = q.float(), k.float(), v.float()
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                                   dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class KVCache:
    """Keys and values of the tokens seen so far, so that generating one more token costs one
    token's compute instead of re-running the whole sequence. In two parts, because sampling n
    completions of a prompt repeats that prompt n times:
      prompts  each prompt's keys and values, written once by the prefill and shared by its n
               rows: stored once, and read once per step for all n (the prompt is most of a row)
      new      each row's keys and values of the tokens generated since, in a buffer that grows
               GROW positions at a time
    Decoding reads the cache at every step, so its speed is that of memory: attention here is
    written out as matrix products over contiguous buffers (unfilled positions masked), which on
    a CPU runs ~3x faster than scaled_dot_product_attention over slices of one big buffer.
    Rows may leave (finished samples) or repeat (n samples of a prompt): select()."""
    GROW = 16

    def __init__(self, cfg, key_mask, max_new):
        """key_mask (P, Tp): False at the left padding of each prompt; max_new: most new tokens."""
        self.cfg, self.max_new = cfg, max_new
        self.prompts = None                                    # (layers, 2, P, heads, Tp, head_dim)
        self.prompt_bias = torch.zeros(key_mask.shape, device=key_mask.device).masked_fill(~key_mask, float("-inf"))
        self.group = torch.arange(len(key_mask), device=key_mask.device)   # the prompt each row continues
        self.new = None                                        # (layers, 2, rows, heads, room, head_dim)
        self.len = 0  # positions filled (the same for every row: prompt padding is masked instead)
        self._place()

    def store_prompts(self, layer, k, v):
        if self.prompts is None:
            self.prompts = k.new_empty((self.cfg.n_layer, 2) + k.shape)
        self.prompts[layer, 0], self.prompts[layer, 1] = k, v

    def _place(self):
        """Each row's slot among its prompt's rows, for the grid (prompt, slot) of attend(); `full`
        when every prompt has `width` rows, in order (no row has left yet): the grid is then a view."""
        order = torch.argsort(self.group, stable=True)
        first = torch.searchsorted(self.group[order], self.group[order])
        self.slot = torch.empty_like(self.group)
        self.slot[order] = torch.arange(len(order), device=order.device) - first
        self.width = int(self.slot.max()) + 1 if len(order) else 0
        n_prompts = len(torch.unique(self.group))
        self.full = torch.equal(self.group, torch.arange(n_prompts, device=order.device).repeat_interleave(self.width))

    def _to_grid(self, x):
        """(rows, ...) -> (prompts, width, ...): the rows of a prompt side by side (0 where none)."""
        if self.full:
            return x.reshape(-1, self.width, *x.shape[1:])
        grid = x.new_zeros(self.prompts.size(2), self.width, *x.shape[1:])
        grid[self.group, self.slot] = x
        return grid

    def _from_grid(self, x):
        return x.reshape(-1, *x.shape[2:]) if self.full else x[self.group, self.slot]

    def attend(self, layer, q, k, v):
        """softmax(q K^T / sqrt(d)) V for one new token per row (q, k, v: (rows, heads, 1, hd)),
        over its prompt's keys and its own new ones."""
        if q.size(2) != 1:
            raise ValueError("the KV cache decodes one token per row at a time")
        Tp, filled = self.prompts.size(4), self.len - self.prompts.size(4)
        if filled >= self.max_new:
            raise ValueError(f"KV cache full ({self.max_new} new positions)")
        if layer == 0:
            if self.new is None or filled == self.new.size(4):   # room for GROW more positions
                grown = k.new_empty(self.prompts.shape[:2] + (len(q), self.cfg.n_head, filled + self.GROW, k.size(-1)))
                if self.new is not None:
                    grown[..., :filled, :] = self.new
                grown[..., filled:, :] = 0      # masked, yet NaN garbage would still poison the sums
                self.new = grown
            # this step's mask for every layer: -inf at a prompt's padding and at the unfilled room
            room = torch.arange(self.new.size(4), device=q.device)
            unfilled = torch.zeros(len(q), len(room), device=q.device).masked_fill(room > filled, float("-inf"))
            self.bias = torch.cat([self.prompt_bias[self.group], unfilled], 1)[:, None]   # (rows, 1, Tp + room)
        self.new[layer, 0, :, :, filled], self.new[layer, 1, :, :, filled] = k[:, :, 0], v[:, :, 0]
        kp, vp = self.prompts[layer]                           # (P, heads, Tp, hd)
        kn, vn = self.new[layer]                               # (rows, heads, room, hd)
        q = q[:, :, 0] / math.sqrt(q.size(-1))                 # (rows, heads, hd)
        # the prompt part: one product per prompt, with the queries of its rows side by side
        scores_p = self._from_grid((self._to_grid(q).transpose(1, 2) @ kp.transpose(-1, -2)).transpose(1, 2))
        scores_n = (q[:, :, None] @ kn.transpose(-1, -2))[:, :, 0]
        w = torch.softmax((torch.cat([scores_p, scores_n], -1) + self.bias).float(), -1).to(q.dtype)
        y = self._from_grid((self._to_grid(w[..., :Tp]).transpose(1, 2) @ vp).transpose(1, 2))   # (rows, heads, hd)
        return (y + (w[:, :, None, Tp:] @ vn)[:, :, 0])[:, :, None]

    def select(self, rows):
        """Keep only some batch rows (finished samples leave) or repeat rows (n samples of each
        prompt); nothing is copied when the rows stay as they are. A prompt whose rows have all
        left is dropped too."""
        if rows.dtype == torch.bool:
            rows = rows.nonzero().squeeze(1)
        if len(rows) == len(self.group) and torch.equal(rows, torch.arange(len(rows), device=rows.device)):
            return
        if self.new is not None:
            self.new = self.new[:, :, rows]
        group = self.group[rows]
        used = torch.unique(group)
        if self.prompts is not None and len(used) < self.prompts.size(2):
            self.prompts, self.prompt_bias = self.prompts[:, :, used], self.prompt_bias[used]
            group = torch.searchsorted(used, group)
        self.group = group
        self._place()


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.n_embd), CausalSelfAttention(cfg)
        self.ln2, self.mlp = nn.LayerNorm(cfg.n_embd), MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask=None, cache=None, layer=0):
        x = x + self.drop(self.attn(self.ln1(x), mask, cache, layer))
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix embeds tokens and scores them
        self.apply(self._init_weights)
        # GPT-2: scale the residual-branch outputs down so the residual stream's variance
        # does not grow with depth
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m):
        # small weights -> nearly uniform initial predictions -> initial loss ~ ln(vocab_size)
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=False):
        n = sum(p.numel() for p in self.parameters())  # the tied matrix is counted once
        return n - self.wpe.weight.numel() - self.wte.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, cache=None, key_mask=None, pos=None, last_only=False):
        """idx (B, T) token ids -> logits (B, T, V); with targets (B, T), also the mean
        cross-entropy over the positions whose target is not -1.

        For generation (sample.py): `key_mask` (B, T) is False at padding (prompts of different
        lengths are left-padded; the prefill, or a whole sequence without a cache); `cache` keeps
        the keys and values for the decoding steps that follow, one token per row (KVCache);
        `pos` (B, T) are the position ids, which skip the padding; last_only computes the
        logits of the last position only (B, 1, V): all that sampling needs after a prefill.
        """
        B, T = idx.shape
        past = cache.len if cache is not None else 0
        if past + T > self.cfg.block_size:
            raise ValueError(f"sequence of {past + T} tokens exceeds block_size {self.cfg.block_size}")
        if pos is None:
            pos = torch.arange(past, past + T, device=idx.device)
        mask = None  # None = plain causal attention (training): the fast path
        if key_mask is not None and past == 0:              # decoding steps: the cache masks (KVCache)
            at = torch.arange(T, device=idx.device)
            mask = (at[None, :] <= at[:, None])[None] & key_mask[:, None, :]   # causal, never to padding...
            mask = (mask | torch.eye(T, dtype=torch.bool, device=idx.device))[:, None]   # ...but a pad query sees itself (no NaN rows)
        x = self.wte(idx) + self.wpe(pos)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, cache, i)
        if cache is not None:
            cache.len += T
        x = self.ln_f(x[:, -1:] if last_only else x)
        with torch.autocast("cpu", enabled=False):       # the precision rule (top): the LM head in fp32 on a CPU
            logits = self.lm_head(x.float() if x.device.type == "cpu" else x)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss


# --- checkpoints ----------------------------------------------------------------------------
def checksum(obj):
    """sha256 of a checkpoint's contents (nested dicts, lists, tensors and plain values), so
    that a file damaged on disk or in transit is refused instead of sampling garbage."""
    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous().reshape(-1)
            h.update(f"tensor {t.dtype} {tuple(x.shape)}:".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=str):
                feed(k)
                feed(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                feed(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode() + b";")
    feed(obj)
    return h.hexdigest()


def load_checkpoint(path, device="cpu"):
    """The dict a train.py checkpoint holds. It is loaded with weights_only=True: a file can only
    hold tensors and plain values, so a crafted checkpoint cannot run code (a classmate's file is
    safe to try). Anything that is not an intact checkpoint is a one-line error."""
    if not os.path.exists(path):
        raise SystemExit(f"error: no checkpoint at {path} (run `python train.py` first)")
    if os.path.isdir(path):
        raise SystemExit(f"error: {path} is a directory, not a checkpoint")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:          # empty, truncated, text, or a pickle that asks for code
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:150]
        raise SystemExit(f"error: {path} is not a checkpoint this project can load ({reason})")
    if not isinstance(ckpt, dict) or not {"model", "config"} <= set(ckpt):
        raise SystemExit(f"error: {path} is not a train.py checkpoint (no model weights and config in it)")
    if "checksum" not in ckpt:
        raise SystemExit(f"error: {path} has no checksum (another program, or a train.py older than checksums, wrote it): it cannot be verified")
    if checksum({k: v for k, v in ckpt.items() if k != "checksum"}) != ckpt["checksum"]:
        raise SystemExit(f"error: {path} is corrupted: its contents do not match the checksum saved with them")
    why = config_problem(ckpt["config"], ckpt["model"])
    if why:   # the checksum needs no secret: a crafted file has a valid one, so its numbers are checked too
        raise SystemExit(f"error: {path} is not a model this project can build: {why}")
    from data.tokenizer import get_tokenizer   # here, not at the top: the model itself needs no tokenizer
    theirs, ours = GPTConfig(**ckpt["config"]).vocab_size, get_tokenizer().n_vocab
    if theirs != ours:   # its token ids would mean other text (or index past the embedding table)
        raise SystemExit(f"error: {path} was trained for a vocabulary of {theirs} tokens, the project's tokenizer "
                         f"has {ours} (retrained since?): train the model again")
    return ckpt


def param_shapes(cfg):
    """The shape of every tensor in a GPT's state_dict, from its config alone (nothing is built)."""
    V, T, C = cfg.vocab_size, cfg.block_size, cfg.n_embd
    block = {"ln1.weight": (C,), "ln1.bias": (C,), "attn.qkv.weight": (3 * C, C), "attn.proj.weight": (C, C),
             "ln2.weight": (C,), "ln2.bias": (C,), "mlp.fc.weight": (4 * C, C), "mlp.proj.weight": (C, 4 * C)}
    shapes = {"wte.weight": (V, C), "wpe.weight": (T, C)}
    for i in range(cfg.n_layer):
        shapes.update({f"blocks.{i}.{k}": s for k, s in block.items()})
    return {**shapes, "ln_f.weight": (C,), "ln_f.bias": (C,), "lm_head.weight": (V, C)}


def config_problem(config, state):
    """Why a checkpoint's config and weights cannot make a GPT, or None: checked before anything is
    built, since GPT(config) allocates what the config asks for (n_embd = 2**22 is 16 GiB)
    whatever the file holds. The weights' shapes must be exactly those the config implies."""
    if not isinstance(config, dict) or not isinstance(state, dict) or set(config) - set(GPTConfig.__dataclass_fields__):
        return "its config or weights are not those of a GPT"
    cfg = GPTConfig(**config)
    for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
        value = getattr(cfg, name)
        if type(value) is not int or value < 1:
            return f"its config's {name} must be a whole number >= 1, got {value!r}"
    if cfg.n_embd % cfg.n_head:
        return f"its config's n_embd ({cfg.n_embd}) is not a multiple of n_head ({cfg.n_head})"
    if not (isinstance(cfg.dropout, (int, float)) and 0 <= cfg.dropout < 1):
        return f"its config's dropout must be in [0, 1), got {cfg.dropout!r}"
    if len(state) != 5 + 8 * cfg.n_layer:   # 5 tensors outside the blocks, 8 in each; first: a huge n_layer costs nothing
        return f"it holds {len(state)} weight tensors, a GPT of {cfg.n_layer} layers has {5 + 8 * cfg.n_layer}"
    for name, shape in param_shapes(cfg).items():
        t = state.get(name)
        if not (isinstance(t, torch.Tensor) and t.is_floating_point() and tuple(t.shape) == shape):
            got = f"shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else "none" if t is None else type(t).__name__
            return f"its weight {name} should be a float tensor of shape {shape} by its config, got {got}"
        if not torch.isfinite(t).all():   # what a diverged run leaves: its samples would be empty, silently
            return f"its weight {name} holds nan or inf (a training run that diverged?)"
    return None


def load_model(path, device="cpu"):
    """The GPT stored in a train.py checkpoint, in eval mode, and the checkpoint dict."""
    ckpt = load_checkpoint(path, device)
    try:
        model = GPT(GPTConfig(**ckpt["config"])).to(device)
        model.load_state_dict(ckpt["model"])
    except (TypeError, RuntimeError, ValueError) as e:
        raise SystemExit(f"error: {path}: its weights do not fit its model config ({str(e).splitlines()[0][:150]})")
    return model.eval(), ckpt
