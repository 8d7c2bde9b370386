"""evaluate.py: pass@k, code extraction, output comparison, the verdicts it gets from the sandbox,
summaries, sampling from a checkpoint and the command line. (The sandbox itself, hostile programs
and all, is tested in test_sandbox.py.)"""
import gzip
import json
import math
import os

import pytest
import torch

import evaluate as ev
import sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_SPLIT = os.path.join(ROOT, "data", "test.jsonl")

ADD = {"task_id": "t/add", "prompt": "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n", "entry_point": "add",
       "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
       "canonical_solution": "    return a + b\n", "difficulty": "easy", "test_style": "call"}
SUM = {"task_id": "t/sum", "prompt": "import sys\nxs = [int(t) for t in sys.stdin.read().split()]\n",
       "entry_point": "", "canonical_solution": "print(sum(xs))\n", "difficulty": "hard", "test_style": "stdin",
       "test": json.dumps([{"input": "1 2 3\n", "output": "6\n"}, {"input": "\n", "output": "0\n"}])}
FLOAT = {"task_id": "t/float", "prompt": "", "entry_point": "", "difficulty": "medium", "test_style": "stdin",
         "canonical_solution": "print(0.3)\n", "test": json.dumps([{"input": "", "output": "0.3\n"}])}
SECRET = {"task_id": "t/secret", "prompt": "import os\n", "entry_point": "", "difficulty": "easy",
          "test_style": "stdin", "canonical_solution": "print('s3cr3t')\n",
          "test": json.dumps([{"input": "", "output": "s3cr3t-from-the-evaluator\n"}])}
PROBLEMS = [ADD, SUM, FLOAT, SECRET]


def judge1(problem, completion, **kw):
    return ev.judge(PROBLEMS, [{"task_id": problem["task_id"], "completion": completion}], progress=False, **kw)[0]


# --- pass@k ---------------------------------------------------------------------------------
def test_pass_at_k_matches_hand_computed_values():
    assert ev.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert ev.pass_at_k(10, 3, 5) == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))  # 1 - 21/252
    assert ev.pass_at_k(10, 3, 5) == pytest.approx(11 / 12)


def test_pass_at_k_edge_cases():
    assert ev.pass_at_k(10, 0, 1) == 0.0 and ev.pass_at_k(10, 0, 10) == 0.0
    assert ev.pass_at_k(10, 10, 1) == 1.0 and ev.pass_at_k(10, 10, 10) == 1.0
    assert ev.pass_at_k(10, 8, 5) == 1.0          # n - c = 2 < k: every 5-subset holds a correct one
    assert ev.pass_at_k(1, 1, 1) == 1.0 and ev.pass_at_k(1, 0, 1) == 0.0


def test_pass_at_k_refuses_k_larger_than_n():
    with pytest.raises(ValueError, match="at least 5 samples"):
        ev.pass_at_k(3, 1, 5)


def test_pass_at_k_is_stable_for_large_n():
    assert ev.pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    assert ev.pass_at_k(10000, 5000, 100) == pytest.approx(1.0)


# --- code extraction and output comparison -----------------------------------------------------
def test_plain_completion_continues_the_prompt():
    assert ev.extract_code(ADD, "    return a + b\n") == ADD["prompt"] + "    return a + b\n"


def test_fenced_function_replaces_the_prompt_stub():
    code = ev.extract_code(ADD, "Sure!\n```python\ndef add(a, b):\n    return a + b\n```\nDone.")
    assert code == ADD["prompt"] + "\ndef add(a, b):\n    return a + b\n"


def test_fenced_body_continues_the_prompt_and_other_languages_are_skipped():
    text = "```bash\nls\n```\n```py\n    return a + b\n```"
    assert ev.extract_code(ADD, text) == ADD["prompt"] + "    return a + b\n"


def test_fenced_stdin_program_is_the_whole_program():
    prog = "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n"
    assert ev.extract_code(SUM, f"```python\n{prog}```") == prog
    assert ev.extract_code(SUM, "```python\nprint(sum(xs))\n") == SUM["prompt"] + "print(sum(xs))\n"  # unclosed


def test_nothing_extractable_is_none():
    assert ev.extract_code(ADD, "") is None
    assert ev.extract_code(ADD, "  \n") is None
    assert ev.extract_code(ADD, "I cannot do that. ```\n```") is None
    assert ev.extract_code(ADD, "```text\nhello\n```") is None


def test_outputs_compare_numbers_with_tolerance():
    assert ev.outputs_match(str(0.1 + 0.2), "0.3")
    assert not ev.outputs_match("0.31", "0.3")
    assert ev.outputs_match("1.0000001 2\n", "1 2")       # relative 1e-7: within 1e-6
    assert not ev.outputs_match("1.00001", "1")
    assert ev.outputs_match("3", "3.0")
    assert not ev.outputs_match("100000000000000000001", "100000000000000000000")   # integers exactly


def test_outputs_compare_lines_after_stripping():
    assert ev.outputs_match("  a b \n c\n\n", "a  b\nc")
    assert not ev.outputs_match("a\nb", "a b")
    assert not ev.outputs_match("a\n\nb", "a\nb")
    assert not ev.outputs_match("nan", "0.3") and not ev.outputs_match("1_0", "10")


# --- the sandbox: right verdicts ---------------------------------------------------------------
def test_every_canonical_solution_of_the_test_split_passes():
    problems = ev.load_problems(TEST_SPLIT)
    samples = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]
    results = ev.judge(problems, samples, progress=False)
    assert [r for r in results if r["verdict"] != "passed"] == []
    assert {p["test_style"] for p in problems} == {"call", "stdin"}


def test_broken_benchmark_solutions_fail_with_the_right_verdict():
    problems = [p for p in ev.load_problems(TEST_SPLIT)][:12]
    breakers = {  # a way to break a canonical solution -> the verdict it must get
        "call": [(lambda s: "    return None\n" + s, "wrong answer"), (lambda s: "    x = 1 / 0\n" + s, "runtime error"),
                 (lambda s: s.replace(":", "", 1), "runtime error"),
                 (lambda s: s + "    x = 1 / 0\n", "passed")],        # dead code after the return: harmless
        "stdin": [(lambda s: s + "print('one line too many')\n", "wrong answer"),
                  (lambda s: "undefined_name\n" + s, "runtime error"), (lambda s: s.replace("(", "", 1), "runtime error")]}
    cases = [(p, make(p["canonical_solution"]), verdict) for p in problems for make, verdict in breakers[p["test_style"]]]
    results = ev.judge(problems, [{"task_id": p["task_id"], "completion": c} for p, c, _ in cases], progress=False)
    assert [r["verdict"] for r in results] == [v for _, _, v in cases]
    assert {p["test_style"] for p in problems} == {"call", "stdin"}


@pytest.mark.parametrize("problem, completion, verdict, detail", [
    (ADD, "    return a - b\n", "wrong answer", "assert candidate(1, 2) == 3"),
    (ADD, "    return a +\n", "runtime error", "SyntaxError"),
    (ADD, "    return a / 0\n", "runtime error", "ZeroDivisionError: division by zero"),
    (ADD, "    assert a > 5\n    return a + b\n", "runtime error", "AssertionError"),  # not the test's assert
    (ADD, "    x = ' ' * (1 << 34)\n", "memory limit", "MemoryError"),
    (ADD, "    while True: pass\n", "timeout", ""),   # the detail: whichever limit came first, CPU or wall clock
    (SUM, "print(sum(xs) + 1)\n", "wrong answer", "case 1: expected '6\\n', got '7\\n'"),
    (SUM, "print(1 / len(xs))\n", "runtime error", "ZeroDivisionError"),
    (FLOAT, "print(0.1 + 0.2)\n", "passed", ""),
    (FLOAT, "print(0.31)\n", "wrong answer", "case 1"),
    (ADD, "", "no code", "no code"),
])
def test_broken_solutions_fail_with_the_right_verdict(problem, completion, verdict, detail):
    r = judge1(problem, completion, timeout=1.0)
    assert r["verdict"] == verdict and detail in r["detail"]
    assert r["passed"] == (verdict == "passed")


def test_stdin_programs_may_read_input_any_way_and_exit_cleanly():
    prog = ("import sys, os\nif sys.argv: pass\na = input()\nrest = sys.stdin.read()\n"
            "print(sum(map(int, (a + ' ' + rest).split())))\nsys.exit(0)\n")
    assert judge1(SUM, "```python\n" + prog + "```")["verdict"] == "passed"
    assert judge1(SUM, "```python\nprint(sum(map(int, open(0).read().split())))\n```")["verdict"] == "passed"


def test_programs_can_import_the_standard_library():
    prog = ("import fractions, decimal, socket, json.tool, statistics, encodings.idna\n"
            "print(fractions.Fraction(sum(xs), 2) * 2)\n")
    assert judge1(SUM, prog)["verdict"] == "passed"


def test_each_program_gets_its_own_random_state_and_an_empty_directory():
    prog = "import os, random\nprint(random.random(), os.listdir('.'))\nopen('left.txt', 'w').write('x')\n"
    first, second = ev.judge(PROBLEMS, [{"task_id": "t/float", "completion": prog},
                                        {"task_id": "t/float", "completion": prog + "\n"}], workers=1, progress=False)
    got1, got2 = (r["detail"].split("got ")[1] for r in (first, second))
    assert got1 != got2 and got1.endswith("[]\\n'") and got2.endswith("[]\\n'")


def test_a_fenced_chat_answer_is_judged():
    chat = "Here you go:\n```python\ndef add(a, b):\n    return b + a\n```\nHope it helps."
    assert judge1(ADD, chat)["verdict"] == "passed"


def test_identical_samples_are_judged_once(monkeypatch):
    calls = []
    real = sandbox.Sandbox.run
    monkeypatch.setattr(sandbox.Sandbox, "run", lambda self, job: calls.append(job) or real(self, job))
    samples = [{"task_id": "t/add", "completion": "    return a + b\n"}] * 5 + \
              [{"task_id": "t/add", "completion": "    return b + a\n"}]
    results = ev.judge(PROBLEMS, samples, progress=False)
    assert len(calls) == 2 and [r["verdict"] for r in results] == ["passed"] * 6



def test_verdicts_known_from_an_earlier_call_are_reused_not_run_again(monkeypatch):
    calls = []
    real = sandbox.Sandbox.run
    monkeypatch.setattr(sandbox.Sandbox, "run", lambda self, job: calls.append(job) or real(self, job))
    known = {}
    first = ev.judge(PROBLEMS, [{"task_id": "t/add", "completion": "    return a - b\n"}], progress=False, known=known)
    again = ev.judge(PROBLEMS, [{"task_id": "t/add", "completion": "    return a - b\n"},
                                {"task_id": "t/add", "completion": "    return a + b\n"}], progress=False, known=known)
    assert len(calls) == 2                                            # a - b once, a + b once
    assert [r["verdict"] for r in first + again] == ["wrong answer", "wrong answer", "passed"]
    known[("t/add", ADD["prompt"] + "    return a * b\n")] = ("passed", "")   # a verdict that is only in `known`
    assert judge1(ADD, "    return a * b\n", known=known)["verdict"] == "passed" and len(calls) == 2

# --- summaries --------------------------------------------------------------------------------
def test_summarize_gives_pass_at_k_per_problem_and_per_difficulty():
    results = ([{"task_id": "t/add", "verdict": "passed", "passed": True}] * 3
               + [{"task_id": "t/add", "verdict": "wrong answer", "passed": False}] * 7
               + [{"task_id": "t/sum", "verdict": "no code", "passed": False}] * 10)
    s = ev.summarize(PROBLEMS, results, ks=(1, 5))
    assert s["per_problem"]["t/add"] == {"n": 10, "c": 3, "pass@1": pytest.approx(0.3), "pass@5": pytest.approx(11 / 12)}
    assert s["pass@1"] == pytest.approx((0.3 + 0.0) / 2)        # mean over the problems with samples
    assert s["by_difficulty"]["easy"]["pass@5"] == pytest.approx(11 / 12)
    assert s["by_difficulty"]["hard"] == {"problems": 1, "pass@1": 0.0, "pass@5": 0.0}
    assert s["no_code"] == 0.5 and s["verdicts"]["passed"] == 3
    table = ev.format_table([("T 0", s)], ks=(1, 5))
    assert "| T 0 | 0.150 | 0.458 | 0.300 | 0.917 | 0.000 | 0.000 | 50.0% |" in table
    with pytest.raises(ValueError, match="at least 20"):
        ev.summarize(PROBLEMS, results, ks=(20,))


def test_markdown_table_is_a_header_a_rule_and_one_line_per_row():
    assert ev.markdown_table(["", "pass@1"], [["T 0", "0.150"], [1, 2.5]]) == \
        "|  | pass@1 |\n|---|---|\n| T 0 | 0.150 |\n| 1 | 2.5 |"


# --- a sweep: sample, judge, summarize ----------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model():
    from model import GPT, GPTConfig
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=1024, block_size=96, n_layer=1, n_head=2, n_embd=16)).eval()


def test_sweep_judges_each_temperature(tiny_model):
    runs = ev.sweep(tiny_model, [ADD, SUM], [0.0, 1.0], n=2, ks=(1,), max_new_tokens=4, progress=False)
    assert [r["temperature"] for r in runs] == [0.0, 1.0]
    assert all(len(r["results"]) == 4 and r["summary"]["samples"] == 4 for r in runs)
    assert "| T 1 |" in ev.format_table([(f"T {r['temperature']:g}", r["summary"]) for r in runs], ks=(1,))


# --- the command line -------------------------------------------------------------------------
def write_jsonl(path, rows, gz=False):
    with (gzip.open(path, "wt") if gz else open(path, "w")) as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def test_cli_scores_a_samples_file_and_writes_one_result_line_per_sample(tmp_path, capsys):
    samples = tmp_path / "s.jsonl"
    write_jsonl(samples, [{"task_id": "test/0", "completion": "    return 0\n"},
                          {"task_id": "test/1", "completion": "print(0)\n"}] * 5)
    ev.main([f"--problems={TEST_SPLIT}", f"--samples={samples}", "--quiet"])
    out = capsys.readouterr().out
    assert "judged 10 samples (2 distinct)" in out and "| samples |" in out and "pass@5" in out
    rows = [json.loads(line) for line in open(str(samples) + "_results.jsonl")]
    assert len(rows) == 10 and set(rows[0]) >= {"task_id", "completion", "verdict", "detail", "passed"}


def test_cli_accepts_a_humaneval_file_unchanged(tmp_path, capsys):
    he = {"task_id": "HumanEval/0", "prompt": "from typing import List\n\n\ndef inc(xs: List[int]) -> List[int]:\n",
          "entry_point": "inc", "canonical_solution": "    return [x + 1 for x in xs]\n",
          "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate([1]) == [2]\n"}
    write_jsonl(tmp_path / "he.jsonl.gz", [he], gz=True)
    write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": he["canonical_solution"]}])
    ev.main([f"--problems={tmp_path / 'he.jsonl.gz'}", f"--samples={tmp_path / 's.jsonl'}", "--quiet",
             f"--out={tmp_path / 'r.jsonl'}"])
    out = capsys.readouterr().out
    assert "| samples | 1.000 | 0.0% |" in out             # pass@1 only (pass@5 needs n >= 5), no difficulty
    assert json.loads(open(tmp_path / "r.jsonl").read())["verdict"] == "passed"


@pytest.mark.parametrize("lines, message", [
    (['{"task_id": "test/0", "completion": "x"}', "{not json"], "s.jsonl:2: not valid JSON"),
    (['{"task_id": "test/0"}'], "s.jsonl:1: missing text field 'completion'"),
    (['{"task_id": "nope/1", "completion": "x"}'], "s.jsonl:1: task_id 'nope/1' is not in"),
])
def test_cli_bad_samples_file_is_a_one_line_error_naming_file_and_line(tmp_path, lines, message):
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit, match=message):
        ev.main([f"--samples={tmp_path / 's.jsonl'}", "--quiet"])


def test_cli_bad_problems_file_names_the_line(tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [ADD, {**SUM, "test": "not json"}])
    with pytest.raises(SystemExit, match=r"p.jsonl:2: test must be a JSON list"):
        ev.main([f"--problems={tmp_path / 'p.jsonl'}", f"--samples={tmp_path / 'p.jsonl'}"])


def test_cli_refuses_an_explicit_k_larger_than_n(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [{"task_id": "test/0", "completion": "    return 0\n"}] * 3)
    with pytest.raises(SystemExit, match="pass@5 needs at least 5 samples"):
        ev.main([f"--samples={tmp_path / 's.jsonl'}", "--ks=1,5", "--quiet"])


def test_cli_help_documents_the_sandbox(capsys):
    with pytest.raises(SystemExit) as e:
        ev.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "NOT protect" in out and "--temperatures" in out


def test_cli_sweeps_a_checkpoint(tmp_path, tiny_model, capsys):
    ckpt = tmp_path / "tiny.pt"
    from model import checksum
    state = {"model": tiny_model.state_dict(), "config": vars(tiny_model.cfg)}
    torch.save({**state, "checksum": checksum(state)}, ckpt)
    write_jsonl(tmp_path / "p.jsonl", [ADD, SUM])
    ev.main([f"--ckpt={ckpt}", f"--problems={tmp_path / 'p.jsonl'}", "--temperatures=0,1.0", "--n=5",
             "--max_new_tokens=4", "--quiet"])
    out = capsys.readouterr().out
    assert "| T 0 |" in out and "| T 1 |" in out and "pass@5" in out and "hard pass@1" in out
    rows = [json.loads(line) for line in open(tmp_path / "tiny_eval.jsonl")]
    assert len(rows) == 2 * 2 * 5 and {r["temperature"] for r in rows} == {0.0, 1.0}
