"""Every command in the docs (README.md, RESULTS.md, EXERCISES.md, docs/*.md) names a real script
and real options; the cheap ones run and print what the README says."""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("README.md", "RESULTS.md", "EXERCISES.md", *sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))))


def commands():
    """(doc, argv) for every `python SCRIPT ...` line in a code block or inline code."""
    found = []
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc)).read()
        for line in re.findall(r"(?:^|\$ |`)(python [^`\n]+)", text, re.M):
            line = line.split("#")[0].strip().rstrip("`")
            try:
                argv = shlex.split(line)
            except ValueError:
                continue
            if len(argv) > 1 and argv[1].endswith(".py"):
                found.append((doc, argv[1:]))
    return found


HELP = {}


def help_text(script):
    if script not in HELP:
        r = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{script} --help failed: {r.stderr[-500:]}"
        HELP[script] = r.stdout
    return HELP[script]


def test_the_docs_contain_commands():
    scripts = {argv[0] for _, argv in commands()}
    assert {"train.py", "sample.py", "evaluate.py", "fsm.py", "forks.py", "lab/study.py", "lab/bench.py", "data/benchmark.py"} <= scripts
    assert {doc for doc, _ in commands()} == set(DOCS)      # every page has commands, and all are read


def test_the_front_page_stays_a_short_tutorial():
    assert os.path.getsize(os.path.join(ROOT, "README.md")) <= 16 * 1024


@pytest.mark.parametrize("doc,argv", commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_documented_command_uses_existing_options(doc, argv):
    assert os.path.exists(os.path.join(ROOT, argv[0])), f"{doc}: no script {argv[0]}"
    text = help_text(argv[0])
    for arg in argv[1:]:
        if arg.startswith("--"):
            flag = arg.split("=")[0]
            assert re.search(rf"{re.escape(flag)}\b", text), f"{doc}: {argv[0]} has no option {flag}"


def test_fsm_prints_the_numbers_the_readme_shows():
    out = subprocess.run([sys.executable, "fsm.py", "--no_train"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120).stdout
    readme = open(os.path.join(ROOT, "README.md")).read()
    for line in ("best teacher         8.33% at T = 0.6394", "best SSD analytic   13.77% at T = 2.0941",
                 "truncation only (1.0, top-p 0.85)         10.45% at T = 0.8740"):
        assert line in out and line in readme


def test_the_canonical_solutions_command_passes_every_test_problem(tmp_path):
    samples = tmp_path / "canonical.jsonl"
    with open(os.path.join(ROOT, "data", "test.jsonl")) as f, open(samples, "w") as g:
        for r in map(json.loads, f):
            g.write(json.dumps({"task_id": r["task_id"], "completion": r["canonical_solution"]}) + "\n")
    r = subprocess.run([sys.executable, "evaluate.py", f"--samples={samples}", "--quiet"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1000:]
    assert "samples verdicts: passed 900" in r.stdout


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "out", "ssd.pt")), reason="needs `python train.py` first")
def test_the_walkthrough_shows_what_its_commands_print():
    # Every "$ python ..." block of the README: each line it shows (but "...") is a line the command
    # prints on this machine. (Another machine's model differs a little: then this test says where.)
    text = open(os.path.join(ROOT, "README.md")).read()
    for cmd, shown in re.findall(r"```\n\$ (python [^\n]+)\n(.*?)```", text, re.S):
        if "--stage=ssd" in cmd:          # retrains a model: its report stands in for its output
            out = open(os.path.join(ROOT, "out", "fixed_point_report.md")).read() if "fixed_point" in cmd else ""
            shown = "\n".join(line for line in shown.splitlines() if not line.startswith("SSD data"))
        else:
            out = subprocess.run([sys.executable, *shlex.split(cmd)[1:]], cwd=ROOT, capture_output=True, text=True,
                                 timeout=600).stdout
        missing = [line for line in shown.splitlines() if line.strip() not in ("", "...") and line.rstrip() not in out]
        assert not missing, f"{cmd}: {missing[:3]}"


def test_the_evaluator_page_lists_exactly_what_the_sandbox_docstring_says_it_does_not_protect():
    import sandbox
    doc = sandbox.__doc__
    unprotected = " ".join(doc[doc.index("What it does NOT protect against"):].split())
    page = " ".join(open(os.path.join(ROOT, "docs", "evaluator.md")).read().split())
    assert unprotected in page
