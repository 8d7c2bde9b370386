"""The tokenizer: our own BPE, loaded offline as a tiktoken.Encoding, lossless on every file."""
import os
import socket


from data import DATA_DIR, read_jsonl
from data import tokenizer as tok


def test_every_benchmark_file_round_trips_exactly():
    enc = tok.get_tokenizer()
    for split in ("pretrain", "val", "ssd", "test"):
        for p in read_jsonl(os.path.join(DATA_DIR, f"{split}.jsonl")):
            for field in ("prompt", "solution", "canonical_solution", "test"):
                if field in p:
                    assert enc.decode(enc.encode(p[field])) == p[field]


def test_any_text_round_trips_even_outside_the_corpus_alphabet():
    enc = tok.get_tokenizer()
    for text in ["", "λx → x²  🙂\t\r\n", "\x00\x7f", "   \n\n    return [x for x in xs]\n"]:
        assert enc.decode(enc.encode(text)) == text


def test_endoftext_is_the_one_special_token_after_the_ranks():
    enc = tok.get_tokenizer()
    assert enc.eot_token == enc.n_vocab - 1 == len(tok.load_ranks())
    assert enc.encode(tok.EOT, allowed_special="all") == [enc.eot_token]
    assert 257 <= enc.n_vocab <= 4096   # sized for a tiny model


def test_loading_needs_no_network_and_writes_no_tiktoken_cache(tmp_path, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("the tokenizer tried to open a network connection")
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    tok.get_tokenizer.cache_clear()
    try:
        enc = tok.get_tokenizer()
        assert enc.decode(enc.encode("return total")) == "return total"
    finally:
        tok.get_tokenizer.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_bpe_merges_the_most_frequent_pair_first():
    # pieces: "ab", " ab", " abc", " abc". Pair counts: a+b 4, space+a 3, b+c 2.
    # Merge 1: a+b -> "ab" (4). Then space+"ab" 3 -> " ab". Then " ab"+c 2 -> " abc".
    vocab = tok.train_bpe(["ab ab abc abc"], vocab_size=256 + 3 + 1)
    assert vocab[:256] == [bytes([i]) for i in range(256)]
    assert vocab[256:] == [b"ab", b" ab", b" abc"]


def test_training_on_the_pretraining_corpus_reproduces_the_committed_rank_file():
    texts = tok.corpus_texts(os.path.join(tok.HERE, "pretrain.jsonl"))
    vocab = tok.train_bpe(texts, len(tok.load_ranks()) + 1)
    assert vocab == sorted(tok.load_ranks(), key=tok.load_ranks().get)


def test_a_tiny_vocabulary_is_refused_by_the_cli():
    import subprocess, sys
    r = subprocess.run([sys.executable, tok.__file__, "--vocab_size=10", "--out=/dev/null"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "at least 257" in r.stderr
