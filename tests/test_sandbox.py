"""The sandbox (sandbox/): hostile programs (ones that try to pass without solving their problem, to escape,
or to leave something behind), the holes its docstring admits, what running a test in the judge
means for a test, SIGTERM, and the workers themselves."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import evaluate as ev
import sandbox
import sandbox.judge
import sandbox.parent
from test_evaluate import ADD, PROBLEMS, ROOT, SECRET, TEST_SPLIT, judge1

AS_ROOT = os.geteuid() == 0
SHARED = [d for d in sandbox.SHARED_DIRS if os.path.isdir(d)]
MEAN = {"task_id": "t/mean", "prompt": "def mean(xs):\n    \"\"\"The mean of xs.\"\"\"\n", "entry_point": "mean",
        "test": "def check(candidate):\n    assert abs(candidate([1, 2, 3]) - 2.0) < 1e-6\n"
                "    assert abs(candidate([4]) - 4.0) < 1e-6\n",
        "canonical_solution": "    return sum(xs) / len(xs)\n", "test_style": "call"}    # uses a built-in
SQRT = {"task_id": "t/sqrt", "prompt": "def sqrt(x):\n    \"\"\"The square root of x.\"\"\"\n", "entry_point": "sqrt",
        "test": "import math\n\n\ndef check(candidate):\n    assert math.isclose(candidate(16.0), 4.0)\n"
                "    assert math.isclose(candidate(2.25), 1.5)\n",
        "canonical_solution": "    return x ** 0.5\n", "test_style": "call"}              # uses a module
DISTINCT = {"task_id": "t/distinct", "prompt": "def distinct(xs):\n    \"\"\"The values in xs, once each.\"\"\"\n",
            "entry_point": "distinct", "test": "def check(candidate):\n    assert len(set(candidate([1, 1, 2]))) == 2\n",
            "canonical_solution": "    return list(set(xs))\n", "test_style": "call"}   # hashes what it gets back
BENCH = next(p for p in ev.load_problems(TEST_SPLIT) if p["test_style"] == "call")   # a problem in a file
ALL = PROBLEMS + [MEAN, SQRT, DISTINCT, BENCH]


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


# --- hostile programs -----------------------------------------------------------------------
LEFT = f"ssd-hostile-{os.getpid()}"        # what the hostile programs leave in /tmp, /dev/shm, /var/tmp
# Programs that look for their test where it would be if the program's process held it. Each plants
# a copy of a fake assert first: a hunt that does not find that copy is broken (a runtime error).
HUNT_GC = """\
    import gc, re, sys
    planted = 'assert cand' + 'idate(7, 7) == 14'
    texts = []
    for o in gc.get_objects():
        items = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple, set, frozenset)) else ()
        texts += [x for x in items if isinstance(x, str)]
    f = sys._getframe()
    while f is not None:
        for x in f.f_locals.values():
            texts += [y for y in ([x] if isinstance(x, str) else x.values() if isinstance(x, dict) else []) if isinstance(y, str)]
        f = f.f_back
    asserts = [m for t in texts for m in re.finditer(r'candidate\\((-?\\d+), (-?\\d+)\\) == (-?\\d+)', t)]
    found = {(int(m[1]), int(m[2])): int(m[3]) for m in asserts}
    if found.pop((7, 7), None) != 14:
        raise RuntimeError('the hunt missed what it planted')
    return found.get((a, b), 0)
"""
HUNT_MEMORY = """\
    import ctypes, re
    planted = ctypes.create_string_buffer(('assert cand' + 'idate(7, 7) == 14').encode())
    found = {}
    for line in open('/proc/self/maps'):
        where, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in where.split('-'))
        if perms.startswith('rw') and hi - lo < 1 << 28 and '[v' not in line:
            data = ctypes.string_at(lo, hi - lo)
            asserts = re.finditer(rb'candidate\\((-?\\d+), (-?\\d+)\\) == (-?\\d+)', data)
            found.update({(int(m[1]), int(m[2])): int(m[3]) for m in asserts})
    if found.pop((7, 7), None) != 14:
        raise RuntimeError('the scan missed what it planted')
    return found.get((a, b), 0)
"""
# Holes that the sandbox's docstring admits: these programs DO pass (the tests below say so, and
# fail when one stops passing: then the docstring says too much). name -> (problem, completion,
# what the docstring says about it, the reason a setup may not have the hole or None).
PROBLEM_FILE = os.path.join(ROOT, "data", "test.jsonl")
KNOWN_UNPROTECTED = {
    "read the problem file (its folder is in /proc/<pid>/cmdline)": (BENCH, """\
    import ast, json, os, re
    argv = open(f'/proc/{os.getppid()}/cmdline', 'rb').read().split(b'\\0')
    folder = os.path.dirname(os.path.dirname(next(a for a in argv if a.endswith(b'worker.py')).decode()))
    for line in open(os.path.join(folder, 'data', 'test.jsonl')):
        p = json.loads(line)
        if p['prompt'].startswith('def max_minus('):
            asserts = re.findall(r'candidate\\((.*)\\) == (.*)', p['test'])
            answers = {repr(ast.literal_eval(args)): ast.literal_eval(want) for args, want in asserts}
            return answers[repr(xs)]
""", "the problem file among them", None),
}
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
    # --- reported in issue 15 ---
    "patch builtins.exec": (ADD, (
        "    return 0\n"
        "import builtins\n"
        "builtins.exec = lambda *a, **k: None\n"), {"wrong answer"}),
    "patch builtins.compile": (ADD, (
        "    return 0\n"
        "import builtins\n"
        "c = compile\n"
        "builtins.compile = lambda *a, **k: c('pass', '<test>', 'exec')\n"), {"wrong answer"}),
    "fork oracle": (ADD, (
        "    import os\n"
        "    for guess in range(-5, 6):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            return guess\n"
        "        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0:\n"
        "            os._exit(0)\n"
        "    return 0\n"), {"wrong answer", "runtime error"}),
    "patch a built-in the test uses": (MEAN, (
        "    return 0\n"
        "import builtins\n"
        "builtins.abs = lambda x: 0\n"), {"wrong answer"}),
    "rebind the module's __builtins__": (MEAN, (
        "    return 0\n"
        "import builtins\n"
        "__builtins__ = dict(vars(builtins), abs=lambda x: 0)\n"), {"wrong answer"}),
    "leave files in /tmp": (ADD, (
        "    import os\n"
        f"    open('/tmp/{LEFT}-file', 'w').write('x')\n"
        f"    os.makedirs('/tmp/{LEFT}-dir/d')\n"
        f"    os.symlink('/etc/hostname', '/tmp/{LEFT}-link')\n"
        "    return 0\n"), {"wrong answer"}),
    "leave files in /dev/shm and /var/tmp": (ADD, (
        f"    open('/dev/shm/{LEFT}-shm', 'w').write('x' * 10**6)\n"
        f"    open('/var/tmp/{LEFT}-var', 'w').write('x')\n"
        "    return 0\n"), {"wrong answer"}),
    "hold memory in memfds": (ADD, (
        "    import os\n"
        "    fds = []\n"
        "    while True:\n"
        "        fds.append(os.memfd_create('hold'))\n"
        "        os.write(fds[-1], b'x' * (1 << 20))\n"), {"runtime error"}),   # 1 MB each: the fd cap, not
    # the time limit, must end it (64 x 8 MB could time out on a loaded machine, a wrong verdict)
    # --- more of the same kind ---
    "shadow a built-in the test uses": (MEAN, (
        "    return 0\n"
        "abs = lambda x: 0\n"), {"wrong answer"}),
    "patch builtins.__import__": (SQRT, (
        "    return 0.0\n"
        "import builtins\n"
        "class M:\n"
        "    isclose = staticmethod(lambda *a, **k: True)\n"
        "real = builtins.__import__\n"
        "builtins.__import__ = lambda n, *a, **k: M if n == 'math' else real(n, *a, **k)\n"), {"wrong answer"}),
    "patch a module the test uses": (SQRT, (
        "    return 0.0\n"
        "import math\n"
        "math.isclose = lambda *a, **k: True\n"), {"wrong answer"}),
    "poison sys.modules": (SQRT, (
        "    return 0.0\n"
        "import sys, types\n"
        "fake = types.ModuleType('math')\n"
        "fake.isclose = lambda *a, **k: True\n"
        "sys.modules['math'] = fake\n"), {"wrong answer"}),
    "return an object equal to everything": (ADD, (
        "    class Eq:\n"
        "        def __eq__(self, other):\n"
        "            return True\n"
        "        __hash__ = object.__hash__\n"
        "    return Eq()\n"), {"wrong answer"}),
    "return an int that lies about equality": (ADD, (
        "    class Liar(int):\n"
        "        def __eq__(self, other):\n"
        "            return True\n"
        "        __hash__ = int.__hash__\n"
        "    return Liar(0)\n"), {"wrong answer"}),
    "return an object that lies about arithmetic": (MEAN, (
        "    class Liar:\n"
        "        __sub__ = __rsub__ = __abs__ = lambda self, *o: self\n"
        "        __lt__ = __eq__ = lambda self, o: True\n"
        "    return Liar()\n"), {"wrong answer", "runtime error"}),
    "skip the asserts with sys.settrace": (MEAN, (
        "    return 0\n"
        "import sys\n"
        "def tracer(frame, event, arg):\n"
        "    if frame.f_code.co_filename == '<test>' and 'check' in frame.f_globals:\n"
        "        frame.f_globals['check'] = lambda c: None\n"
        "    return tracer\n"
        "sys.settrace(tracer)\n"), {"wrong answer"}),
    "hunt for the test in gc and frames": (ADD, HUNT_GC, {"wrong answer"}),      # a runtime error: its own check failed
    "scan its own memory for the test with ctypes": (ADD, HUNT_MEMORY, {"wrong answer"}),
    "forge replies to the judge": (ADD, (
        "    import json, os\n"
        "    forged = json.dumps({'value': 'passed'}) + '\\n' + json.dumps({'ends': []}) + '\\n'\n"
        f"    os.write({sandbox.CALLS_FD + 1}, forged.encode())\n"
        "    return 0\n"), {"wrong answer", "runtime error"}),
    "swap its reply pipe for another": (ADD, (
        "    import os\n"
        "    r, w = os.pipe()\n"
        f"    os.dup2(w, {sandbox.CALLS_FD + 1})\n"
        "    return 0\n"), {"runtime error", "timeout"}),
    "flood the judge with colliding ints": (ADD, (
        "    import json, os\n"
        "    colliding = [k * (2 ** 61 - 1) for k in range(1, 10 ** 5)]\n"
        "    forged = json.dumps({'value': {'set': colliding}}) + '\\n'\n"
        f"    os.write({sandbox.CALLS_FD + 1}, forged.encode())\n"
        "    return 0\n"), {"wrong answer"}),
    "keep the judge busy hashing colliding ints": (DISTINCT, (
        "    return [k * (2 ** 61 - 1) for k in range(1, 40001)]\n"), {"runtime error"}),
    "os._exit(0) from __del__ of its return value": (ADD, (
        "    class Bye:\n"
        "        def __del__(self):\n"
        "            import os\n"
        "            os._exit(0)\n"
        "    return Bye()\n"), {"wrong answer", "runtime error"}),
    "raise SystemExit in __del__": (ADD, (
        "    class Bye:\n"
        "        def __del__(self):\n"
        "            raise SystemExit(0)\n"
        "    Bye()\n"
        "    return 0\n"), {"wrong answer"}),
    "an alarm handler that exits 0": (ADD, (
        "    import os, signal\n"
        "    signal.signal(signal.SIGALRM, lambda *a: os._exit(0))\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)\n"
        "    return 0\n"), {"wrong answer", "runtime error"}),
    "a thread that exits 0": (ADD, (
        "    import os, threading, time\n"
        "    threading.Thread(target=lambda: (time.sleep(0.001), os._exit(0))).start()\n"
        "    return 0\n"), {"wrong answer", "runtime error"}),
    "kill its own process group": (ADD, (
        "    import os, signal\n"
        "    os.kill(0, signal.SIGKILL)\n"), {"runtime error"}),
    "raise its own limits": (ADD, (
        "    import resource\n"
        "    for r in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NOFILE):\n"
        "        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "    return 0\n"), {"runtime error"}),
    "return a huge int": (ADD, (
        "    return 10 ** 100000\n"), {"wrong answer"}),
    "return a huge list": (ADD, (
        "    return [0] * 10 ** 7\n"), {"wrong answer", "memory limit"}),
}


def _world_readable(path):
    """Could another uid read `path` (every folder above it enterable, the file readable by others)?"""
    parts = os.path.abspath(path).split(os.sep)
    folders = [os.sep.join(parts[:i]) or os.sep for i in range(1, len(parts))]
    return all(os.stat(d).st_mode & 0o001 for d in folders) and bool(os.stat(path).st_mode & 0o004)


KNOWN_SKIP = {name: None for name in KNOWN_UNPROTECTED}
if AS_ROOT and not _world_readable(PROBLEM_FILE):
    KNOWN_SKIP["read the problem file (its folder is in /proc/<pid>/cmdline)"] = "the programs' uid cannot read it here"


def _shared_entries():
    """(folder, name, owner) of everything in the world-writable folders now."""
    found = set()
    for d in SHARED:
        for e in os.scandir(d):
            try:
                found.add((d, e.name, e.stat(follow_symlinks=False).st_uid))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def hostile_results():
    """Judge, in one run, every hostile program, the known holes, and then the canonical solutions
    of the problems they attack (after them: the evaluator must still work). Yields the results
    by name, the time it took, the evaluator's temporary folders still there, and what is new in
    the world-writable folders that the run's uids own or that the hostile programs named."""
    os.mkdir(OUTSIDE, 0o755)
    cases = {name: (problem, completion) for name, (problem, completion, *_) in {**HOSTILE, **KNOWN_UNPROTECTED}.items()}
    cases.update({f"control {p['task_id']}": (p, p["canonical_solution"]) for p in (ADD, MEAN, SQRT, DISTINCT, BENCH)})
    samples = [{"task_id": problem["task_id"], "completion": completion} for problem, completion in cases.values()]
    made, mkdtemp, uids, real_uids = [], tempfile.mkdtemp, [], sandbox.parent.sandbox_uids
    before = _shared_entries()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSD_TEST_SECRET", "s3cr3t-from-the-evaluator")
        mp.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append(mkdtemp(*a, **k)) or made[-1])
        mp.setattr(sandbox.parent, "sandbox_uids", lambda n: (lambda got: uids.extend(got[0]) or got)(real_uids(n)))
        t0 = time.time()
        results = ev.judge(ALL, samples, timeout=1.0, progress=False)
        elapsed = time.time() - t0
    left = sorted(e for e in _shared_entries() - before if e[2] in uids or e[1].startswith(LEFT))
    yield dict(zip(cases, results)), elapsed, [d for d in made if os.path.exists(d)], left
    subprocess.run(["rm", "-rf", OUTSIDE] + [os.path.join(d, name) for d, name, _ in left if name.startswith(LEFT)])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_does_not_pass(hostile_results, name):
    results = hostile_results[0]
    assert results[name]["verdict"] in HOSTILE[name][2], results[name]
    assert not results[name]["passed"]


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xfail(
    strict=True, raises=AssertionError, reason="a hole that the sandbox's docstring admits")) for name in KNOWN_UNPROTECTED])
def test_known_hole_is_still_open(hostile_results, name):
    """Strict xfail: when one of these programs stops passing, this fails, and the docstring's list
    of what is not protected has to lose a line."""
    if KNOWN_SKIP[name]:
        pytest.skip(KNOWN_SKIP[name])
    assert not hostile_results[0][name]["passed"], hostile_results[0][name]


def test_every_known_hole_is_in_the_docstring():
    holes = " ".join(sandbox.__doc__.split("What it does NOT protect against")[1].split())
    for name, (_, _, phrase, *_) in KNOWN_UNPROTECTED.items():
        assert phrase in holes, name


def test_hostile_suite_finishes_in_bounded_time_and_leaves_nothing_behind(hostile_results):
    results, elapsed, folders, _ = hostile_results
    assert elapsed < 30
    assert [r["verdict"] for name, r in results.items() if name.startswith("control")] == ["passed"] * 5
    assert folders == []                                          # its temporary folder is gone
    assert not [c for c in cmdlines() if b"987.6" in c or b"986.5" in c]   # no escaped sleepers


@pytest.mark.skipif(not AS_ROOT, reason="as a normal user, what a program leaves cannot be told from your files")
def test_what_programs_leave_in_world_writable_folders_is_removed_when_run_as_root(hostile_results):
    assert hostile_results[3] == []


def test_hostile_details_say_what_happened(hostile_results):
    results = hostile_results[0]
    assert "SystemExit(0)" in results["early sys.exit(0)"]["detail"]
    assert "before the tests finished" in results["early os._exit(0)"]["detail"]
    assert "output limit" in results["huge output"]["detail"]
    assert "RecursionError" in results["deep recursion"]["detail"]
    assert "EOFError" in results["read stdin"]["detail"]
    assert "Boom" in results["raise a BaseException subclass"]["detail"]
    assert "no secret here" in results["read an environment secret"]["detail"]
    assert "Too many open files" in results["hold memory in memfds"]["detail"]       # 64 files at most (each <= 8 MB)
    assert "Eq: only plain data is compared" in results["return an object equal to everything"]["detail"]
    assert "not allowed to raise" in results["raise its own limits"]["detail"]
    assert "still busy with what the program returned" in results["keep the judge busy hashing colliding ints"]["detail"]


@pytest.mark.skipif(not AS_ROOT, reason="as a normal user the program runs as you and may write your files")
def test_programs_cannot_write_outside_their_directory_when_run_as_root(hostile_results):
    results = hostile_results[0]
    assert not os.path.exists(os.path.join(OUTSIDE, "pwned"))
    assert "PermissionError" in results["write outside the temp dir"]["detail"]
    assert "PermissionError" in results["kill the parent"]["detail"]


# --- what running a call problem's test in the judge means for the test ----------------------
def _problem(name, prompt, test):
    return {"task_id": f"t/{name}", "prompt": prompt, "entry_point": "f", "test_style": "call",
            "test": f"def check(candidate):\n{test}"}


JUDGED_THERE = {   # name -> (problem, completion, verdict)
    "a namedtuple is compared as a tuple": (
        _problem("nt", "def f(x):\n", "    assert candidate(1) == (1, 2)\n"),
        "    import collections\n    return collections.namedtuple('P', 'a b')(x, 2)\n", "passed"),
    "a Counter is compared as a dict": (
        _problem("ct", "def f(s):\n", "    assert candidate('aab') == {'a': 2, 'b': 1}\n"),
        "    import collections\n    return collections.Counter(s)\n", "passed"),
    "dict keys are compared as a set": (
        _problem("keys", "def f(d):\n", "    assert candidate({1: 2, 3: 4}) == {1, 3}\n"), "    return d.keys()\n", "passed"),
    "the test may call the prompt's helpers": (
        _problem("helper", "def double(x):\n    return 2 * x\n\n\ndef f(x):\n", "    assert double(candidate(2)) == 8\n"),
        "    return double(x)\n", "passed"),
    "arguments are copies": (
        _problem("copy", "def f(xs):\n", "    xs = [3, 1, 2]\n    candidate(xs)\n    assert xs == [3, 1, 2]\n"),
        "    xs.sort()\n", "passed"),
    "the test cannot catch the program's exceptions": (
        _problem("exc", "def f(x):\n", "    try:\n        candidate(0)\n    except Exception:\n        pass\n"),
        "    raise ValueError('no')\n", "runtime error"),
    "the test may pass only plain data": (
        _problem("plain", "def f(g):\n", "    assert candidate(len) == 3\n"), "    return g('abc')\n", "runtime error"),
    "a global named like a built-in does not reach the test": (
        _problem("shadow", "def f(x):\n", "    assert max([candidate(1)]) == 2\n"),
        "    return x\nmax = lambda *a: 2\n", "wrong answer"),
}


def test_a_call_problems_test_sees_plain_data_copies_and_not_the_programs_exceptions():
    problems = [p for p, _, _ in JUDGED_THERE.values()]
    results = ev.judge(problems, [{"task_id": p["task_id"], "completion": c} for p, c, _ in JUDGED_THERE.values()],
                       timeout=2.0, progress=False)
    assert {name: r["verdict"] for name, r in zip(JUDGED_THERE, results)} == {name: v for name, (_, _, v) in JUDGED_THERE.items()}
    assert "ValueError: no" in results[list(JUDGED_THERE).index("the test cannot catch the program's exceptions")]["detail"]
    assert "not plain data" in results[list(JUDGED_THERE).index("the test may pass only plain data")]["detail"]


# --- sending a test's calls ahead ---------------------------------------------------------------
STEPS = "def check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) == 2\n    assert candidate(3) == 3\n"


def test_only_a_test_of_literal_asserts_sends_its_calls_ahead():
    assert sandbox.judge.literal_calls(STEPS + "\n\ncheck(f)\n") == [[1], [2], [3]]
    assert sandbox.judge.literal_calls(STEPS.replace("(2)", "([2, 'x'], {'k': (1,)})") + "\ncheck(f)\n")[1] == [[2, "x"], {"k": (1,)}]
    for other in (STEPS.replace("== 2", "== 2, 'why'"),                   # a message: any expression
                  STEPS.replace("(2) ==", "(abs(-2)) =="),                # a call inside the arguments
                  STEPS.replace("== 3", "!= 3"),
                  STEPS + "    x = candidate(4)\n",
                  "import math\n" + STEPS,
                  STEPS.replace("candidate(1)", "candidate(n=1)")):
        assert sandbox.judge.literal_calls(other + "\ncheck(f)\n") is None, other
    assert sandbox.judge.literal_calls(STEPS + "\ncheck(f)\ncheck(f)\n") is None


def test_sending_calls_ahead_changes_no_verdict_and_no_detail():
    # The same test, once sent ahead and once (a no-op first line) a call at a time, against
    # programs that go wrong at the second call in every way a program can.
    slow = STEPS.replace("def check(candidate):\n", "def check(candidate):\n    pass\n")
    assert sandbox.judge.literal_calls(slow + "\ncheck(f)\n") is None
    programs = {"right": "    return x\n", "wrong at 2": "    return 0 if x == 2 else x\n",
                "raises at 2": "    if x == 2:\n        raise ValueError('two')\n    return x\n",
                "loops at 2": "    while x == 2:\n        pass\n    return x\n",
                "exits at 2": "    import os\n    if x == 2:\n        os._exit(0)\n    return x\n",
                "counts its calls": "    global n\n    n = globals().get('n', 0) + 1\n    return x if n < 3 else -1\n",
                "not plain at 3": "    return x if x < 3 else object()\n"}
    verdicts = {}
    for name, test in (("ahead", STEPS), ("one by one", slow)):
        problem = {"task_id": "t/f", "prompt": "def f(x):\n", "entry_point": "f", "test": test}
        results = ev.judge([problem], [{"task_id": "t/f", "completion": c} for c in programs.values()],
                           timeout=1.0, progress=False)
        # a timeout's detail says which limit came first (CPU or wall clock), which load decides
        verdicts[name] = [(r["verdict"], "" if r["verdict"] == "timeout" else r["detail"].replace("    pass", ""))
                          for r in results]
    assert [v for v, _ in verdicts["ahead"]] == ["passed", "wrong answer", "runtime error", "timeout", "runtime error",
                                                  "wrong answer", "wrong answer"]
    assert verdicts["ahead"] == verdicts["one by one"]


# --- SIGTERM, uids, workers ---------------------------------------------------------------------
def test_sigterm_while_judging_cleans_up_and_then_terminates(tmp_path):
    """evaluate.py stopped with SIGTERM mid-run leaves no /tmp/ssd-eval-* folder and no program
    running, and still dies of SIGTERM (as it did before it cleaned up)."""
    tmp, problems, samples = tmp_path / "tmp", tmp_path / "p.jsonl", tmp_path / "s.jsonl"
    tmp.mkdir()
    problems.write_text(json.dumps(ADD) + "\n")
    samples.write_text("".join(json.dumps({"task_id": "t/add", "completion": "    import subprocess, time\n"
                                           f"    subprocess.Popen(['sleep', '981.{i}'], start_new_session=True)\n"
                                           "    time.sleep(60)\n"}) + "\n" for i in range(8)))
    proc = subprocess.Popen([sys.executable, "evaluate.py", f"--problems={problems}", f"--samples={samples}", "--timeout=1.5",
                             "--quiet"], cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)}, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not [c for c in cmdlines() if re.search(rb"sleep\x00981\.", c)]:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert list(tmp.iterdir()) == []
    assert not [c for c in cmdlines() if re.search(rb"sleep\x00981\.", c)]


def test_run_all_leaves_the_sigterm_handler_as_it_was():
    before = signal.getsignal(signal.SIGTERM)
    assert judge1(ADD, "    return a + b\n")["passed"]
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.skipif(not AS_ROOT, reason="sandbox uids exist only when run as root")
def test_two_evaluators_on_one_machine_get_different_uids():
    (first, held1), (second, held2) = sandbox.parent.sandbox_uids(2), sandbox.parent.sandbox_uids(2)
    assert len(set(first + second)) == 4
    for s in held1 + held2:
        s.close()
    assert sandbox.parent.sandbox_uids(2)[0] == first                     # free again once the first has ended


def test_a_worker_killed_mid_program_takes_its_children_along_and_the_program_runs_again_on_a_new_one(tmp_path):
    box = sandbox.Sandbox({"dir": str(tmp_path), "name": "w0", "uid": None, "timeout": 2.0, "memory": 512 << 20, "nproc": 10000})
    sleeper = {"solution": "import os\nos.execv('/bin/sleep', ['sleep', '985.5'])\n", "inputs": None,
               "test": "def check(c):\n    pass\n\ncheck(None)\n"}
    box.start()
    first = box.proc.pid
    import threading
    seen = []
    threading.Timer(0.5, os.kill, (first, 9)).start()          # killed from outside: not the program's doing
    threading.Timer(1.5, lambda: seen.append(len([c for c in cmdlines() if b"985.5" in c]))).start()
    assert box.run(sleeper)["status"] == "timeout"               # run again, on a new worker, to its own end
    assert box.proc.pid != first
    assert seen == [1]                                          # the first worker's sleeper died with it
    time.sleep(0.2)
    assert not [c for c in cmdlines() if b"985.5" in c]
    box.close()


def test_a_program_that_kills_every_worker_it_runs_on_fails_with_worker_died(tmp_path):
    box = sandbox.Sandbox({"dir": str(tmp_path), "name": "w0", "uid": None, "timeout": 2.0, "memory": 512 << 20, "nproc": 10000})
    killer = {"solution": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time\ntime.sleep(9)\n",
              "inputs": None, "test": "def check(c):\n    pass\n\ncheck(None)\n"}
    assert box.run(killer)["detail"] == "the sandbox worker died while running this program"
    assert box.run({**killer, "solution": "pass\n"})["status"] == "ok"      # a new worker took over
    box.close()


def test_a_worker_that_cannot_start_is_an_error_not_a_verdict(monkeypatch):
    monkeypatch.setattr(sandbox.parent.sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match="did not start"):
        judge1(ADD, "    return a + b\n")
