"""The benchmark: reproducible, well-formed, correct, split by composition, buggy as documented."""
import argparse
import collections
import io
import json
import os

import pytest

from data import DATA_DIR, read_jsonl
from data import benchmark

SPLITS = ("pretrain", "val", "ssd", "test")


@pytest.fixture(scope="module")
def files():
    return {s: read_jsonl(os.path.join(DATA_DIR, f"{s}.jsonl")) for s in SPLITS}


def default_args(**kw):
    a = dict(seed=1234, n_pretrain=6000, n_val=300, n_ssd=2000, n_test=900, bug_rate=benchmark.BUG_RATE, idiom_rate=benchmark.IDIOM_RATE)
    a.update(kw)
    return argparse.Namespace(**a)


def run_solution(p, code):
    """Does `code` pass problem p's tests? (Our own trusted code, run in-process.)"""
    if p["test_style"] == "call":
        env = {}
        try:
            exec(p["prompt"] + code + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n", env)
            return True
        except Exception:
            return False
    for case in json.loads(p["test"]):
        out = io.StringIO()
        src = (p["prompt"] + code).replace(benchmark.STDIN_LINE, "xs = [int(t) for t in INPUT.split()]\n")
        try:
            exec(src, {"INPUT": case["input"], "print": lambda *a: out.write(" ".join(map(str, a)) + "\n")})
        except Exception:
            return False
        if out.getvalue() != case["output"]:
            return False
    return True


def test_regeneration_is_byte_identical_to_the_committed_files(tmp_path):
    # Each split draws from its own seeded stream, so a smaller run reproduces a prefix.
    n = 150
    rows = benchmark.generate(default_args(n_pretrain=n, n_val=n, n_ssd=n, n_test=n))
    for split in SPLITS:
        path = tmp_path / f"{split}.jsonl"
        benchmark.write_jsonl(path, rows[split])
        with open(os.path.join(DATA_DIR, f"{split}.jsonl"), "rb") as f:
            committed = b"".join(f.readline() for _ in range(n))
        assert path.read_bytes() == committed, split


def test_committed_files_have_the_documented_sizes(files):
    assert {s: len(r) for s, r in files.items()} == {"pretrain": 6000, "val": 300, "ssd": 2000, "test": 900}


def test_every_problem_has_the_humaneval_schema_plus_difficulty_and_style(files):
    for split, rows in files.items():
        for p in rows:
            assert p["task_id"].startswith(split + "/")
            assert p["difficulty"] in ("easy", "medium", "hard")
            assert p["test_style"] in ("call", "stdin")
            assert isinstance(p["prompt"], str) and isinstance(p["test"], str)
            if p["test_style"] == "call":
                assert p["prompt"].startswith(f"def {p['entry_point']}(xs):")
                assert p["test"].startswith("def check(candidate):")
            else:
                assert p["entry_point"] == ""
                assert all(set(c) == {"input", "output"} for c in json.loads(p["test"]))


def test_ssd_prompts_carry_no_solution_at_all(files):
    for p in files["ssd"]:
        assert "canonical_solution" not in p and "solution" not in p


def test_both_test_styles_and_all_difficulties_are_in_every_split(files):
    for rows in files.values():
        assert {p["test_style"] for p in rows} == {"call", "stdin"}
        counts = collections.Counter(p["difficulty"] for p in rows)
        assert max(counts.values()) - min(counts.values()) <= 1   # equal thirds


def test_every_canonical_solution_passes_its_tests(files):
    for split in ("pretrain", "val", "test"):
        for p in files[split]:
            assert run_solution(p, p["canonical_solution"]), p["task_id"]


def test_training_solutions_fail_exactly_when_they_are_marked_buggy_or_use_the_wrong_idiom(files):
    for split in ("pretrain", "val"):
        for p in files[split]:
            wrong = p["bug"] is not None or p["style"] == "wrong_idiom"
            assert run_solution(p, p["solution"]) != wrong, p["task_id"]


def test_buggy_share_is_the_documented_fifteen_percent(files):
    rows = files["pretrain"]
    share = sum(p["bug"] is not None for p in rows) / len(rows)
    assert benchmark.BUG_RATE == 0.15
    sd = (0.15 * 0.85 / len(rows)) ** 0.5
    assert abs(share - 0.15) < 4 * sd
    kinds = collections.Counter(p["bug"] for p in rows if p["bug"])
    assert set(kinds) == {name for name, _, _ in benchmark.MUTATIONS}


def test_wrong_idiom_is_the_plurality_start_but_correct_styles_outweigh_it(files):
    rows = files["pretrain"]
    share = {s: c / len(rows) for s, c in collections.Counter(p["style"] for p in rows).items()}
    assert abs(share["wrong_idiom"] - 0.34) < 0.02
    assert all(share["wrong_idiom"] > share[s] for s in benchmark.STYLES)     # greedy picks the idiom...
    assert share["wrong_idiom"] < sum(share[s] for s in benchmark.STYLES)      # ...but it is the minority


def test_mutations_corrupt_exactly_one_token():
    import random
    rng = random.Random(0)
    code = "    total = 0\n    for x in xs:\n        if x > 3:\n            total += x * 2\n    return total\n"
    for _ in range(50):
        bad, kind = benchmark.mutate(code, rng)
        diff = [(a, b) for a, b in zip(code.split(" "), bad.split(" ")) if a != b]
        assert len(diff) == 1 and kind is not None


def test_splits_are_disjoint_by_composition_and_by_prompt(files):
    comps = {s: {p["composition"] for p in rows} for s, rows in files.items()}
    pools = {s: {benchmark.composition_key(c) for c in cs} for s, cs in benchmark.split_compositions(1234).items()}
    assert comps["pretrain"] <= pools["pretrain"] and comps["val"] <= pools["pretrain"]
    assert comps["ssd"] <= pools["ssd"] and comps["test"] <= pools["test"]
    assert not comps["pretrain"] & comps["ssd"]
    assert not comps["pretrain"] & comps["test"]
    assert not comps["ssd"] & comps["test"]
    prompts = {s: {p["prompt"] for p in rows} for s, rows in files.items()}
    assert not prompts["test"] & (prompts["pretrain"] | prompts["ssd"] | prompts["val"])


def test_harder_problems_have_more_steps_and_longer_solutions(files):
    steps = {"easy": 2, "medium": 3, "hard": 4}
    length = collections.defaultdict(list)
    for p in files["test"]:
        *filt, m, _ = p["composition"].split("+")
        assert len(filt) + (m != "id") + 1 == steps[p["difficulty"]]
        length[p["difficulty"]].append(len(p["canonical_solution"]))
    mean = {d: sum(v) / len(v) for d, v in length.items()}
    assert mean["easy"] < mean["medium"] < mean["hard"]


def test_tests_catch_the_wrong_idiom_on_every_problem(files):
    # The idiom skips xs[0]; every problem has an input whose first element changes the answer.
    for p in files["test"][:150]:
        code = p["canonical_solution"]
        if p["test_style"] == "call":
            body = code.replace("    for x in xs:", "    for x in xs[1:]:")
        else:
            body = code.replace("for x in xs:", "for x in xs[1:]:")
        assert body != code and not run_solution(p, body), p["task_id"]


def test_clean_corpus_switch_turns_bugs_and_idiom_off():
    rows = benchmark.generate(default_args(n_pretrain=120, n_val=3, n_ssd=3, n_test=3, bug_rate=0.0, idiom_rate=0.0))
    assert all(p["bug"] is None and p["style"] != "wrong_idiom" for p in rows["pretrain"])
    assert all(run_solution(p, p["solution"]) for p in rows["pretrain"])
