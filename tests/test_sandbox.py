"""sandbox.py: hostile programs (ones that try to pass without solving their problem, to escape,
or to leave something behind) and the workers themselves."""
import os
import shutil
import tempfile
import time

import pytest

import evaluate as ev
import sandbox
from test_evaluate import ADD, PROBLEMS, SECRET, judge1

AS_ROOT = os.geteuid() == 0


def cmdlines():
    """The command lines of all processes now running."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append(f.read())
        except OSError:
            pass
    return out


# --- the sandbox: hostile programs --------------------------------------------------------------
OUTSIDE = os.path.join(tempfile.gettempdir(), f"ssd-outside-{os.getpid()}")   # made by the fixture
HOSTILE = {   # name -> (problem, completion, allowed verdicts); none of them solves its problem
    "infinite loop": (ADD, "    while True:\n        pass\n", {"timeout"}),
    "sleep": (ADD, "    import time\n    time.sleep(100)\n", {"timeout"}),
    "fork bomb": (ADD, "    import os\n    while True:\n        os.fork()\n", {"runtime error", "timeout"}),
    "stubborn fork bomb": (ADD, "    import os\n    while True:\n        try:\n            os.fork()\n"
                                "        except OSError:\n            pass\n", {"runtime error", "timeout"}),
    "memory bomb": (ADD, "    x = bytearray(1 << 40)\n", {"memory limit"}),
    "slow memory bomb": (ADD, "    xs = []\n    while True:\n        xs.append(bytearray(10**8))\n",
                         {"memory limit", "timeout"}),   # a timeout when the machine is very busy
    "deep recursion": (ADD, "    return add(a, b)\n", {"runtime error"}),
    "deep recursion, limit raised": (ADD, "    import sys\n    sys.setrecursionlimit(10**9)\n    return add(a, b)\n",
                                     {"runtime error", "memory limit", "timeout"}),
    "huge output": (ADD, "    while True:\n        print('x' * 100000)\n", {"runtime error"}),
    "huge stderr": (ADD, "    import sys\n    while True:\n        sys.stderr.write('x' * 100000)\n", {"runtime error"}),
    "early sys.exit(0)": (ADD, "    return 0\nimport sys\nsys.exit(0)\n", {"runtime error"}),
    "sys.exit(0) in the call": (ADD, "    import sys\n    sys.exit(0)\n", {"runtime error"}),
    "early os._exit(0)": (ADD, "    return 0\nimport os\nos._exit(0)\n", {"runtime error"}),
    "fake sentinel via print": (ADD, "    return 0\nimport builtins, sys, os\nprint('passed')\n"
                                     "builtins.print = lambda *a, **k: None\nsys.stdout = None\nos._exit(0)\n",
                                {"runtime error"}),
    "fake sentinel on every fd": (ADD, "    return 0\nimport os\nfor fd in range(3, 4096):\n    try:\n"
                                       "        os.write(fd, b'P' + b'0' * 32 + b'\\n')\n    except OSError:\n"
                                       "        pass\nos._exit(0)\n", {"runtime error"}),
    "exit through atexit": (ADD, "    return 0\nimport atexit, sys\natexit.register(print, 'passed')\nsys.exit()\n",
                            {"runtime error"}),
    "kill the parent": (ADD, "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 0\n",
                        {"runtime error", "wrong answer"}),
    "write outside the temp dir": (ADD, f"    open({OUTSIDE!r} + '/pwned', 'w').write('x')\n    return 0\n",
                                   {"runtime error", "wrong answer"}),
    "read an environment secret": (SECRET, "print(os.environ.get('SSD_TEST_SECRET', 'no secret here'))\n",
                                   {"wrong answer"}),
    "open a socket": (ADD, "    import socket\n    s = socket.socket()\n    s.bind(('127.0.0.1', 0))\n"
                           "    s.listen()\n    socket.create_connection(s.getsockname()).send(b'hi')\n    return 0\n",
                      {"wrong answer"}),
    "spawn threads": (ADD, "    import threading\n    for _ in range(20):\n        threading.Thread(target=lambda: "
                           "[0 for _ in iter(int, 1)]).start()\n    return 0\n", {"wrong answer", "timeout"}),
    "spawn a subprocess that outlives it": (ADD, "    import subprocess\n    subprocess.Popen(['sleep', '987.6'], "
                                                 "start_new_session=True)\n    return 0\n", {"wrong answer"}),
    "daemonize (double fork + setsid)": (ADD, "    import os\n    if os.fork() == 0:\n        os.setsid()\n"
                                              "        if os.fork() == 0:\n            os.execv('/bin/sleep', "
                                              "['sleep', '986.5'])\n        os._exit(0)\n    return 0\n",
                                         {"wrong answer"}),
    "read stdin": (ADD, "    return int(input())\n", {"runtime error"}),
    "raise a BaseException subclass": (ADD, "    class Boom(BaseException):\n        pass\n    raise Boom()\n",
                                       {"runtime error"}),
    "raise KeyboardInterrupt": (ADD, "    raise KeyboardInterrupt\n", {"runtime error"}),
    "raise GeneratorExit": (ADD, "    raise GeneratorExit\n", {"runtime error"}),
    "close every fd": (ADD, "    import os\n    os.closerange(0, 65536)\n    return 0\n",
                       {"runtime error", "wrong answer"}),
    "lock its own directory": (ADD, "    import os\n    os.makedirs('a/b')\n    open('a/b/f', 'w').close()\n"
                                    "    os.chmod('a/b', 0)\n    os.chmod('a', 0)\n    os.chmod('.', 0)\n    return 0\n",
                               {"wrong answer"}),
    "become root": (ADD, "    import os\n    os.setuid(0)\n    return a + b\n", {"runtime error"}),
    "parser bomb": (ADD, "    return " + "(" * 100000 + "\n", {"runtime error", "memory limit"}),
}


@pytest.fixture(scope="module")
def hostile_results():
    os.mkdir(OUTSIDE, 0o755)
    names = list(HOSTILE)
    samples = [{"task_id": HOSTILE[n][0]["task_id"], "completion": HOSTILE[n][1]} for n in names]
    samples += [{"task_id": "t/add", "completion": "    return a + b\n"}]   # a good one, judged after them
    made, mkdtemp = [], tempfile.mkdtemp
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSD_TEST_SECRET", "s3cr3t-from-the-evaluator")
        mp.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append(mkdtemp(*a, **k)) or made[-1])
        t0 = time.time()
        results = ev.judge(PROBLEMS, samples, timeout=1.0, progress=False)
        elapsed = time.time() - t0
    yield dict(zip(names + ["control"], results)), elapsed, [d for d in made if os.path.exists(d)]
    shutil.rmtree(OUTSIDE)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_does_not_pass(hostile_results, name):
    results, _, _ = hostile_results
    allowed = HOSTILE[name][2]
    assert results[name]["verdict"] in allowed, results[name]
    assert not results[name]["passed"]


def test_hostile_suite_finishes_in_bounded_time_and_leaves_nothing_behind(hostile_results):
    results, elapsed, left = hostile_results
    assert elapsed < 30
    assert results["control"]["verdict"] == "passed"              # the evaluator still works
    assert left == []                                             # its temporary directory is gone
    assert not [c for c in cmdlines() if b"987.6" in c or b"986.5" in c]   # no escaped sleepers


def test_hostile_details_say_what_happened(hostile_results):
    results, _, _ = hostile_results
    assert "SystemExit(0)" in results["early sys.exit(0)"]["detail"]
    assert "before the tests finished" in results["early os._exit(0)"]["detail"]
    assert "output limit" in results["huge output"]["detail"]
    assert "RecursionError" in results["deep recursion"]["detail"]
    assert "EOFError" in results["read stdin"]["detail"]
    assert "Boom" in results["raise a BaseException subclass"]["detail"]
    assert "no secret here" in results["read an environment secret"]["detail"]


@pytest.mark.skipif(not AS_ROOT, reason="as a normal user the program runs as you and may write your files")
def test_programs_cannot_write_outside_their_directory_when_run_as_root(hostile_results):
    results, _, _ = hostile_results
    assert not os.path.exists(os.path.join(OUTSIDE, "pwned"))
    assert "PermissionError" in results["write outside the temp dir"]["detail"]
    assert "PermissionError" in results["kill the parent"]["detail"]


def test_a_worker_killed_mid_program_fails_that_program_and_takes_its_children_along():
    box = sandbox.Sandbox({"dir": tempfile.mkdtemp(), "name": "w0", "uid": None, "timeout": 5.0,
                           "memory": 512 << 20, "nproc": 10000})
    sleeper = {"solution": "import os\nos.execv('/bin/sleep', ['sleep', '985.5'])\n", "inputs": None,
               "test": "def check(c):\n    pass\n\ncheck(None)\n"}
    box.start()
    zygote = box.proc.pid
    import threading
    threading.Timer(0.5, os.kill, (zygote, 9)).start()
    assert box.run(sleeper)["detail"] == "the sandbox worker died while running this program"
    time.sleep(0.2)
    assert not [c for c in cmdlines() if b"985.5" in c]                   # the parent-death signal
    assert box.run({**sleeper, "solution": "pass\n"})["status"] == "ok"      # a new worker took over
    box.close()


def test_a_worker_that_cannot_start_is_an_error_not_a_verdict(monkeypatch):
    monkeypatch.setattr(sandbox.sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match="did not start"):
        judge1(ADD, "    return a + b\n")
