"""Our own byte-level BPE: a tiny trainer, and a loader that returns a tiktoken.Encoding.

    python data/tokenizer.py                  # relearn data/tokenizer.bpe from data/pretrain.jsonl
                                              #   (byte for byte the same)
    python data/tokenizer.py --corpus=data/pretrain.jsonl --out=/tmp/new.bpe   # on another corpus

    from data.tokenizer import get_tokenizer
    enc = get_tokenizer(); ids = enc.encode("return total"); enc.decode(ids)

Text is first split into pieces by a regex (words with their leading space, single digits,
punctuation runs, whitespace runs), then each piece is a sequence of bytes and BPE repeatedly
merges the most frequent adjacent pair into a new token. The rank file lists every token's bytes
(base64) with its rank, in tiktoken's format: ranks 0-255 are the single bytes, then the merges
in the order they were learned. tiktoken applies merges by rank, which replays our training.
We parse the file ourselves and build the Encoding directly, so nothing touches the network
or tiktoken's download cache. <|endoftext|> is the one special token (id = number of ranks).
"""
import argparse
import base64
import collections
import functools
import json
import os
import re

import tiktoken

HERE = os.path.dirname(os.path.abspath(__file__))
RANKS_PATH = os.path.join(HERE, "tokenizer.bpe")
EOT = "<|endoftext|>"
# The same pattern must mean the same in Python's re (training) and tiktoken's regex engine
# (encoding), so it sticks to ASCII classes. Digits are single pieces so numbers split evenly.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z_]+| ?[0-9]| ?[^\sA-Za-z_0-9]+|\s+(?!\S)|\s+"""


def train_bpe(texts, vocab_size):
    """Learn merges until there are vocab_size - 1 tokens (the last id is <|endoftext|>).

    Returns the list of token byte strings, index = rank. Words are counted once per distinct
    piece; a merge only revisits the words that contain its pair, which keeps this fast.
    """
    pieces = collections.Counter(p for t in texts for p in re.findall(PATTERN, t))
    words = [list(p.encode()) for p in pieces]      # each word as a list of token ids
    freqs = list(pieces.values())
    vocab = [bytes([i]) for i in range(256)]
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)              # pair -> indices of words containing it
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += freqs[i]
            where[pair].add(i)
    while len(vocab) < vocab_size - 1 and pair_counts:
        # most frequent pair; ties go to the smaller ids so training is deterministic
        best = max(pair_counts, key=lambda p: (pair_counts[p], -p[0], -p[1]))
        if pair_counts[best] < 2:
            break
        new_id = len(vocab)
        vocab.append(vocab[best[0]] + vocab[best[1]])
        for i in where.pop(best):
            w = words[i]
            for pair in zip(w, w[1:]):                # forget this word's old pairs...
                pair_counts[pair] -= freqs[i]
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
            merged, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == best:
                    merged.append(new_id)
                    j += 2
                else:
                    merged.append(w[j])
                    j += 1
            words[i] = merged
            for pair in zip(merged, merged[1:]):      # ...and count its new ones
                pair_counts[pair] += freqs[i]
                where[pair].add(i)
    assert len(set(vocab)) == len(vocab), "a merge produced a token twice"
    return vocab


def save_ranks(vocab, path=RANKS_PATH):
    with open(path, "w") as f:
        for rank, tok in enumerate(vocab):
            f.write(f"{base64.b64encode(tok).decode()} {rank}\n")


def load_ranks(path=RANKS_PATH):
    ranks = {}
    with open(path) as f:
        for line in f:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    return ranks


@functools.lru_cache(maxsize=None)
def get_tokenizer(path=RANKS_PATH):
    """The project's tiktoken.Encoding, built offline from the committed rank file."""
    ranks = load_ranks(path)
    return tiktoken.Encoding(name="ssd-code-bpe", pat_str=PATTERN, mergeable_ranks=ranks,
                             special_tokens={EOT: len(ranks)})


def corpus_texts(path_or_rows):
    """Prompts and solutions (of a JSONL file or of rows) as separate texts: the model sees them
    tokenized apart."""
    rows = path_or_rows
    if isinstance(rows, str):
        with open(rows) as f:
            rows = [json.loads(line) for line in f]
    return [t for r in rows for t in (r["prompt"], r["solution"])]


def main():
    ap = argparse.ArgumentParser(description="Train the byte-level BPE on the pretraining corpus.")
    ap.add_argument("--corpus", default=os.path.join(HERE, "pretrain.jsonl"),
                    help="a pretrain-style JSONL: its prompts and solutions")
    ap.add_argument("--vocab_size", type=int, default=1024, help="including <|endoftext|>")
    ap.add_argument("--out", default=RANKS_PATH)
    args = ap.parse_args()
    if args.vocab_size < 257:
        ap.error("--vocab_size must be at least 257 (256 bytes + <|endoftext|>)")
    texts = corpus_texts(args.corpus)
    vocab = train_bpe(texts, args.vocab_size)
    save_ranks(vocab, args.out)
    enc = get_tokenizer(args.out)
    n_tok = sum(len(enc.encode(t)) for t in texts)
    n_bytes = sum(len(t.encode()) for t in texts)
    print(f"{len(vocab)} ranks + {EOT} -> {args.out}; {n_bytes / n_tok:.2f} bytes/token on the corpus")


if __name__ == "__main__":
    main()
