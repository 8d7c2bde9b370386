"""No single program can crash an evaluation, or make another program fail, in this run or a later
one (issue 26): what broke the judge before, each a program that did it. The rest of the sandbox's
hostile suite is in test_sandbox.py."""
import json
import os
import subprocess
import sys

import pytest

import evaluate as ev
import sandbox.common
import sandbox.parent
from sandbox.cleanup import remove_tree
from test_evaluate import ADD, ROOT

AS_ROOT = os.geteuid() == 0
ECHO = {"task_id": "t/echo", "prompt": "", "test_style": "stdin", "test": json.dumps([{"input": "5\n", "output": "5\n"}])}
GOOD = "    return a + b\n"


def verdicts(problem, completions, **kw):
    """Judged on one worker, one after another: what one program leaves, the next one meets."""
    results = ev.judge([problem], [{"task_id": problem["task_id"], "completion": c} for c in completions],
                       workers=1, progress=False, **kw)
    return [r["verdict"] for r in results], results


# --- 1. a long number --------------------------------------------------------------------------
def test_integers_longer_than_pythons_int_limit_are_compared_by_their_digits():
    assert ev.outputs_match("1" * 5000, "1" * 5000)
    assert not ev.outputs_match("1" * 5000, "1" * 4999 + "2")
    assert ev.outputs_match("-007 +0 -0", "-7 0 0")
    assert not ev.outputs_match("-5", "5")


def test_a_program_that_prints_a_5000_digit_number_is_judged_not_a_crash():
    got, results = verdicts(ECHO, ["print('1' * 5000)\n", "print(input())\n"])
    assert got == ["wrong answer", "passed"]
    assert len(results[0]["detail"]) < 300


# --- 2. a deep directory -------------------------------------------------------------------------
DEEP = "    import os\n    os.chdir({where!r})\n    for _ in range(3000):\n        os.mkdir('d')\n        os.chdir('d')\n    return 0\n"


def test_a_directory_tree_3000_deep_is_removed_without_recursion(tmp_path):
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        for _ in range(3000):
            os.mkdir("d")
            os.chdir("d")
        open("f", "w").close()
        os.chmod(".", 0)                               # a locked directory at the bottom, too
    finally:
        os.chdir(here)
    assert remove_tree(str(tmp_path / "d"))
    assert os.listdir(tmp_path) == []


def test_a_program_that_builds_a_deep_directory_in_its_folder_fails_alone():
    got, _ = verdicts(ADD, [DEEP.format(where="."), GOOD, GOOD], timeout=5.0)
    assert got == ["wrong answer", "passed", "passed"]


@pytest.mark.skipif(not AS_ROOT, reason="only as root are the programs' files in /tmp told from yours")
def test_a_deep_directory_left_in_tmp_fails_no_later_program_and_is_removed():
    name = f"/tmp/ssd-deep-{os.getpid()}"
    got, _ = verdicts(ADD, [DEEP.format(where="/tmp").replace("os.chdir('/tmp')", f"os.mkdir({name!r}); os.chdir({name!r})"),
                            GOOD, GOOD], timeout=5.0)
    assert got == ["wrong answer", "passed", "passed"]
    assert not os.path.lexists(name)


@pytest.mark.skipif(not AS_ROOT, reason="sandbox uids exist only when run as root")
def test_what_an_earlier_evaluation_left_under_its_uid_fails_no_program_now():
    uids, held = sandbox.parent.sandbox_uids(1)         # the uid this evaluation will get
    held[0].close()
    name = f"/tmp/ssd-left-{os.getpid()}"
    subprocess.run(["setpriv", f"--reuid={uids[0]}", f"--regid={uids[0]}", "--clear-groups", "perl", "-e",
                    f'mkdir "{name}"; chdir "{name}"; for (1..3000) {{ mkdir "d"; chdir "d" }}'], check=True)
    try:
        assert verdicts(ADD, [GOOD, GOOD])[0] == ["passed", "passed"]
        assert not os.path.lexists(name)
    finally:
        remove_tree(name)


# --- 3. System V IPC --------------------------------------------------------------------------------
KEY = 0x55D0000 + os.getpid() % 65536
STORE = f"""\
    import ctypes
    c = ctypes.CDLL(None)
    c.shmget({KEY}, 1 << 20, 0o1666)
    c.msgget({KEY}, 0o1666)
    c.semget({KEY}, 1, 0o1666)
    return 0
"""
FIND = f"""\
    import ctypes
    c = ctypes.CDLL(None)
    if max(c.shmget({KEY}, 0, 0), c.msgget({KEY}, 0), c.semget({KEY}, 0, 0)) >= 0:
        raise RuntimeError('found what the program before left')
    return a + b
"""


def _ipc_keys():
    keys = set()
    for kind in ("shm", "msg", "sem"):
        with open(f"/proc/sysvipc/{kind}") as f:
            keys |= {int(line.split()[0]) for line in list(f)[1:]}
    return keys


@pytest.mark.skipif(not AS_ROOT, reason="not as root, programs' IPC objects cannot be told from yours (documented)")
def test_system_v_ipc_is_no_channel_between_programs_and_does_not_outlive_them():
    got, _ = verdicts(ADD, [STORE, FIND])
    assert got == ["wrong answer", "passed"]
    assert KEY not in _ipc_keys()


# --- 4. not root: the judge's pipes out of the program's reach ----------------------------------------
FORGE = """\
    import os
    def ppid(pid):
        return int(open(f'/proc/{pid}/status').read().split('PPid:')[1].split()[0])
    judge = ppid(os.getppid())
    forged = 0
    for pid in (judge, ppid(judge)):
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                if os.readlink(f'/proc/{pid}/fd/{fd}').startswith('pipe:'):
                    w = os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY | os.O_NONBLOCK)
                    os.write(w, b'{"status": "ok"}\\n' * 50)
                    forged += 1
            except OSError:
                pass
    return forged
"""


@pytest.mark.skipif(not AS_ROOT, reason="needs root to start an evaluator without capabilities (setpriv)")
def test_a_program_run_as_the_evaluators_own_user_cannot_forge_verdicts_through_proc(tmp_path):
    """The evaluator as a normal user would run: programs as its own uid, no capabilities."""
    script = f"""
import json, sys
sys.path.insert(0, {ROOT!r}); sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
import sandbox.parent
sandbox.parent.as_root = lambda: False
import evaluate as ev
from test_evaluate import ADD
completions = [{FORGE!r}] + ["    return a - b\\n"] * 4
res = ev.judge([ADD], [{{"task_id": "t/add", "completion": c}} for c in completions], workers=1, timeout=2.0, progress=False)
print(json.dumps([r["verdict"] for r in res]))
"""
    out = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-c", script],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == ["wrong answer"] * 5
    assert "not running as root" in out.stderr                   # said in one line at the start


# --- 5. nothing grows without bound ---------------------------------------------------------------------
def test_details_are_cut_however_much_a_program_says():
    huge_type = "    return type('A' * 7_000_000, (), {})()\n"
    huge_error = "    raise ValueError('x' * 7_000_000)\n"
    _, results = verdicts(ADD, [huge_type, huge_error])
    assert [r["verdict"] for r in results] == ["wrong answer", "runtime error"]
    assert all(len(r["detail"]) <= sandbox.common.DETAIL_CAP for r in results)


def test_a_stdin_programs_outputs_become_its_verdict_as_they_arrive(monkeypatch):
    kept, real = [], sandbox.parent.run_all
    monkeypatch.setattr(ev, "run_all", lambda *a, **k: (lambda got: kept.append(got) or got)(real(*a, **k)))
    got, _ = verdicts(ECHO, ["print('x' * 1_000_000)\n", "print(input())\n"])
    assert got == ["wrong answer", "passed"]
    assert len(repr(kept)) < 10_000                            # verdicts, not a megabyte of output


def test_the_judges_memory_is_capped(tmp_path):
    box = sandbox.Sandbox({"dir": str(tmp_path), "name": "w0", "uid": None, "timeout": 2.0, "memory": 512 << 20,
                           "nproc": 10000})
    box.start()
    try:
        limits = open(f"/proc/{box.proc.pid}/limits").read()
        soft = [line.split()[3] for line in limits.splitlines() if line.startswith("Max address space")][0]
        assert int(soft) == sandbox.common.JUDGE_MEMORY
    finally:
        box.close()


# --- 6. what a test sees ---------------------------------------------------------------------------------
def test_a_value_that_is_false_fails_an_assert_of_its_truth_as_in_plain_exec():
    problem = {**ADD, "test": "def check(candidate):\n    assert candidate(1, 2)\n"}
    falsy = "    class No:\n        def __bool__(self):\n            return False\n    return No()\n"
    truthy = "    class Yes:\n        pass\n    return Yes()\n"
    assert verdicts(problem, [falsy, truthy])[0] == ["wrong answer", "passed"]


# --- limits that are no limits ----------------------------------------------------------------------------
@pytest.mark.parametrize("limits", [dict(timeout=float("nan")), dict(timeout=float("inf")), dict(timeout=1e308),
                                    dict(timeout=0), dict(memory_mb=1), dict(memory_mb=10 ** 9), dict(workers=100_000)])
def test_limits_that_would_judge_every_program_wrongly_are_refused(limits):
    with pytest.raises(ValueError):
        ev.judge([ADD], [{"task_id": "t/add", "completion": GOOD}], progress=False, **limits)



# --- where the sandbox cannot run ------------------------------------------------------------------------
def test_judging_elsewhere_than_linux_is_a_one_line_error_before_any_work(monkeypatch):
    monkeypatch.setattr(sandbox.parent.sys, "platform", "darwin")
    with pytest.raises(SystemExit, match=r"needs Linux >= 5.3 \(or WSL 2\), not darwin"):
        ev.judge([ADD], [{"task_id": "t/add", "completion": GOOD}], progress=False)


# --- found in review ----------------------------------------------------------------------------------------
def test_a_program_killed_by_a_real_time_signal_is_a_runtime_error_not_a_sandbox_failure():
    suicide = "import os\nos.kill(os.getpid(), 40)\n"
    got, results = verdicts(ECHO, [suicide + f"# {i}\n" for i in range(5)] + ["print(input())\n"])
    assert got == ["runtime error"] * 5 + ["passed"]                 # five: more than the internal errors allowed
    assert "killed by signal 40" in results[0]["detail"]


def test_a_stdin_problem_with_many_cases_runs_under_the_usual_open_file_limit():
    cases = [{"input": f"{i}\n", "output": f"{i}\n"} for i in range(40)]
    problem = {**ECHO, "task_id": "t/many", "test": json.dumps(cases)}
    assert verdicts(problem, ["print(input())\n", "print(open(0).read().strip())\n"])[0] == ["passed", "passed"]


def test_a_cut_detail_is_exactly_the_cap_and_says_how_long_it_was():
    from sandbox.common import short
    assert short("x" * 500) == "x" * 500
    for n in (501, 8 << 20):
        assert len(short("x" * n)) == 500 and short("x" * n).endswith(f"({n:,} chars)")


def test_the_sandbox_works_under_an_address_space_limit_below_the_judges_cap():
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (900 << 20, 900 << 20))\n"
            f"sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, 'tests')!r}]\n"
            "import evaluate as ev; from test_evaluate import ADD\n"
            "print(ev.judge([ADD], [{'task_id': 't/add', 'completion': '    return a + b\\n'}], progress=False)[0]['verdict'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["passed"], out.stderr[-500:]


def test_the_workers_channel_cannot_be_opened_through_proc(tmp_path):
    box = sandbox.Sandbox({"dir": str(tmp_path), "name": "w0", "uid": None, "timeout": 2.0, "memory": 512 << 20,
                           "nproc": 10000})
    box.start()
    try:
        fds = {fd: os.readlink(f"/proc/{box.proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{box.proc.pid}/fd")}
        channel = [fd for fd, what in fds.items() if what.startswith("socket:")]
        assert channel                                 # the parent's channel: a socket, not a pipe
        for fd in channel:
            with pytest.raises(OSError):               # ENXIO, even for root
                open(f"/proc/{box.proc.pid}/fd/{fd}", "wb")
    finally:
        box.close()
