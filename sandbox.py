"""Run untrusted programs safely enough and fast: the sandbox behind evaluate.py.

First time here? You may skip this file: it is the machinery that evaluate.py uses to run the
programs a model writes, and nothing in the tutorial needs it. Its use:

    from sandbox import run_all
    results = run_all({key: {"solution": src, "test": test_code_or_None, "inputs": stdin_cases_or_None}})

The sandbox (Linux >= 5.3). Per core, a worker: a fresh `python -I -S` with no variables of ours
(and no site-packages: programs import only the standard library) that loads this file and a few
standard modules (typing, math, collections, ...), forks a "zygote" and then is the "judge". The
zygote only forks: each program runs in a process of its own, forked from the zygote, that never
ran untrusted code - a fresh interpreter in a few ms instead of ~15 ms plus imports (but sharing
the zygote's hash seed). That process starts a new session and gets limits (CPU seconds, 512 MB
of address space, 8 MB per file it writes, 64 open files, a process cap, no core dumps), an empty
working directory (emptied after it), HOME and TMPDIR there, stdin from the test case (else
/dev/null), stdout and stderr in capped anonymous files and, when we are root, a uid of its own
(one per worker from 64000 on, one that no other evaluator on the machine is using; no groups,
no_new_privs) that cannot write your files, signal your processes or another worker's program.
At the end, the wall-clock limit at the latest, the zygote kills its process group and then all
it left behind (the zygote is a child subreaper: setsid'ed and daemonized descendants come back to
it), and as root removes what that uid left in /tmp, /var/tmp, /dev/shm and /run/lock.

Nothing the program's process says is believed. A stdin problem's outputs go back to evaluate.py,
which compares them. A call problem's test runs in the judge, not in the program's process: there
the program's functions are stand-ins that send each call's arguments to the program's process and
bring back the return value as plain data (None, bool, int, float, complex, str, bytes, and lists,
tuples, dicts, sets of them; a subclass of one of these comes back as that type, anything else as
a stand-in equal only to itself). So a program cannot reach the test's built-ins or modules, skip
its asserts or return an object that equals everything, and an early sys.exit(0), a printed
"passed" or a faked reply only fail. Programs are forked from the zygote, which never sees a test,
so no program's memory holds one. What this means for a test: it runs with the judge's built-ins
(a global of the program named like one, `abs = ...`, does not reach it); it may pass only plain
data, as copies (it does not see the program change its arguments); it cannot catch the program's
exceptions (any exception in the program fails it); and a judge still busy 3 s past the time limit
(a test hashing what a program returned, say) is killed: the program fails, the worker restarts.

What it does NOT protect against (run truly hostile code in a VM or container):
- Files everyone may read, the problem file among them: a program can find it (the worker's
  command line, /proc/<pid>/cmdline, names sandbox.py's folder) and look up its own answers.
- No namespaces, no seccomp: the network is reachable, and programs judged at the same time can
  talk to each other through it (or through /tmp); world-writable places can be written, and only
  what is directly in /tmp, /var/tmp, /dev/shm and /run/lock is removed, and only when we are root.
- Memory is capped per process, not in total: 512 MB of address space for each of a program's
  processes (64 at most, as root), and memfds and pipes outside it (64 open files of 8 MB at most
  per process); files in tmpfs (/dev/shm) are bounded only by the time limit.
- Not run as root, the program runs as you: it can read and write your files, kill your processes
  (the evaluator too: a dead worker is restarted and the program fails), read their memory (the
  judge's tests too) and environment, and what it leaves in /tmp cannot be told from your files.
A stdin problem's cases run in one process, each with a fresh __main__ and its own stdin: imports
and changes to builtins carry over from case to case, and os._exit ends them all.
"""
import builtins
import errno
import gc
import json
import math
import os
import re
import resource
import select
import signal
import sys
import time
import types
# parent-only modules (subprocess, shutil, socket, tempfile, threading, tqdm) are imported where
# they are used: every module the zygote maps makes each fork slower

PRELOAD = ("typing", "math", "collections", "itertools", "functools", "heapq", "bisect", "string")
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}   # the worker's whole environment
SANDBOX_UID = 64000         # as root, worker i runs its programs as the i-th free uid from here
OUTPUT_CAP = 8 << 20        # bytes per file a program writes (stdout, stderr, any other), and per reply
OPEN_FILES = 64             # per process: memfds and pipes hold memory that the address-space cap misses
JUDGE_GRACE = 3             # seconds past the time limit after which the zygote kills a stuck judge
PATH_FD, CALLS_FD = 900, 1000   # program's fds: sys.path dirs; requests in, replies out, stdin cases after
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")   # world-writable: programs can leave files
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38


# --- inside the sandbox: the worker, which forks the zygote and then judges ---------------------
_libc, _path_fds, _shared_seen = None, [], {}


def _prctl(option, value):
    if _libc is not None:
        _libc.prctl(option, value, 0, 0, 0)


def worker_main():
    """A config line, then for each job line one result line, until EOF on stdin."""
    global _libc
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the parent, which closes us
    ctl_in, ctl_out = os.fdopen(os.dup(0), "rb"), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0), os.dup2(null, 1)
    try:
        import ctypes
        _libc = ctypes.CDLL(None)
        _libc.mallopt(-8, 1)        # M_ARENA_MAX = 1: each extra malloc arena reserves 64 MB of address space
    except (ImportError, OSError, AttributeError):
        pass
    _import_through_fds()
    for name in PRELOAD:                               # once here instead of once per program
        __import__(name)
    builtins.exit = builtins.quit = _quit             # what `site` would have added
    cfg = json.loads(ctl_in.readline())
    (cmd_r, cmd_w), (end_r, end_w), (res_r, res_w), (req_r, req_w), (rep_r, rep_w) = [os.pipe() for _ in range(5)]
    judge = os.getpid()
    zygote = os.fork()
    if zygote == 0:                                    # before any test reached us
        for fd in (ctl_in.fileno(), ctl_out, cmd_w, end_w, res_r, req_w, rep_r):
            os.close(fd)
        try:
            zygote_main(cfg, judge, cmd_r, end_r, res_w, req_r, rep_w)
        finally:
            os._exit(0)
    for fd in (cmd_r, end_r, res_w):
        os.close(fd)
    link = _Link(cmd_w, end_w, res_r, req_w, rep_r, req_r, rep_w)
    _write_all(ctl_out, json.dumps(link.hear()).encode() + b"\n")   # the zygote's {"ready": true}
    for line in ctl_in:
        try:
            res = _judge(json.loads(line), cfg, link)
        except _ZygoteGone:
            res = {"status": "runtime error", "detail": "the sandbox worker died while running this program", "restart": True}
        except Exception as e:                         # our bug, not the program's: say so loudly
            res = {"status": "internal error", "detail": f"sandbox worker failed: {e!r}", "restart": True}
        _write_all(ctl_out, (json.dumps(res) + "\n").encode())
        if res.get("restart"):
            break
    os.close(cmd_w)                                    # EOF ends the zygote
    os.waitpid(zygote, 0)


def _quit(code=None):
    raise SystemExit(code)


def _write_all(fd, data):
    data = memoryview(data)
    while data:
        data = data[os.write(fd, data):]


def _import_through_fds():
    """The programs' uid may not reach the standard library (a Python under /root, say), but a
    process may always use its own fds: open the sys.path directories and import through
    /proc/self/fd/N, here and in the children, which inherit the fds."""
    moved = {}
    for path in sys.path:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        _path_fds.append(os.dup2(fd, PATH_FD + len(_path_fds)))
        os.close(fd)
        moved[path] = f"/proc/self/fd/{_path_fds[-1]}"

    def remap(p):
        old = max((o for o in moved if p == o or p.startswith(o + "/")), key=len, default=None)
        return p if old is None else moved[old] + p[len(old):]
    sys.path[:] = [remap(p) for p in sys.path]
    for m in list(sys.modules.values()):               # packages already imported (encodings, json, ...)
        if isinstance(getattr(m, "__path__", None), list):
            m.__path__[:] = [remap(p) for p in m.__path__]
    sys.path_importer_cache.clear()


class _ZygoteGone(Exception):
    """The zygote died (a program run as us can kill it): the worker must be restarted."""


class _Link:
    """The judge's pipes: jobs to the zygote, "end" (one byte) and its answers (JSON lines), requests
    to the program's process and its replies. The last two serve one program after another: the
    ends in the program's process are the zygote's, inherited, and the judge keeps copies of them."""

    def __init__(self, cmd, end, res, requests, replies, their_requests, their_replies):
        self.cmd, self.end_fd, self.res = cmd, end, os.fdopen(res, "rb")
        self.requests, self.replies, self.theirs = requests, replies, (their_requests, their_replies)
        os.set_blocking(requests, False)
        os.set_blocking(replies, False)

    def tell(self, job):
        self._write(self.cmd, (json.dumps(job) + "\n").encode())

    def end(self):
        self._write(self.end_fd, b".")

    @staticmethod
    def _write(fd, data):
        try:
            _write_all(fd, data)
        except OSError:
            raise _ZygoteGone from None

    def hear(self):
        line = self.res.readline()
        if not line:
            raise _ZygoteGone
        return json.loads(line)

    def reset(self):
        """After a program (none of its processes is left): empty the pipes and undo what it may
        have set on its ends (O_NONBLOCK, which the next program would get too)."""
        for fd in self.theirs:
            os.set_blocking(fd, True)
        for fd in (self.theirs[0], self.replies):
            while _readable(fd, 0) and os.read(fd, 1 << 16):
                pass


# --- inside the sandbox: the zygote ----------------------------------------------------------
def zygote_main(cfg, judge, commands, ends, answers, requests, replies):
    """For each job from the judge: fork the program's process. A call problem's runs until the
    judge, told its pid, says it is done; a stdin problem's until it exits (or the time limit).
    Then kill it and all it left, clean up, and say how it ended (with its output). A judge that
    is not done by the time limit + JUDGE_GRACE (a test kept busy by what the program returned,
    say) is killed after that: the worker restarts, and the program fails."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)           # die with the judge (and our programs with us)
    if os.getppid() != judge:
        return
    _prctl(PR_SET_CHILD_SUBREAPER, 1)                  # orphaned descendants come back to us
    gc.freeze()                                        # keep the children's copies of our pages shared
    commands = os.fdopen(commands, "rb")
    cfg["workdir"] = _empty_dir(os.path.join(cfg["dir"], cfg["name"]), cfg["uid"])
    _write_all(answers, b'{"ready": true}\n')
    for line in commands:
        job = json.loads(line)
        out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
        pid = os.fork()
        if pid == 0:
            try:
                _program(job, cfg, out, err, requests, replies)
            finally:
                os._exit(4)                            # never fall back into our loop
        timed_out = stuck = False
        if job["inputs"] is None:                      # a call problem: until the judge is done with it
            _write_all(answers, (json.dumps({"pid": pid}) + "\n").encode())
            stuck = not _readable(ends, cfg["timeout"] + JUDGE_GRACE)
            if not stuck:
                os.read(ends, 1)                       # b"." (or b"": the judge is gone)
        else:                                          # a stdin problem: until it ends
            pidfd = os.pidfd_open(pid)
            timed_out = not _readable(pidfd, cfg["timeout"])
            os.close(pidfd)
        os.kill(pid, signal.SIGKILL)
        _kill_group(pid)                               # and whatever it left running
        status = os.waitpid(pid, 0)[1]
        _reap_orphans()
        stdout = os.pread(out, min(os.fstat(out).st_size, OUTPUT_CAP), 0) if job["inputs"] is not None else b""
        stderr = os.pread(err, 2000, max(0, os.fstat(err).st_size - 2000)).decode("utf-8", "replace")
        for fd in (out, err):
            os.close(fd)
        cfg["workdir"] = _empty_dir(cfg["workdir"], cfg["uid"])
        if cfg["uid"] is not None:
            _clean_shared(cfg["uid"])
        if stuck:                                      # the judge goes, and we with it
            os.kill(judge, signal.SIGKILL)
            return
        ended = {"status": status, "timed_out": timed_out, "stdout": stdout.decode("latin-1"), "stderr": stderr}
        _write_all(answers, (json.dumps(ended, ensure_ascii=False) + "\n").encode())


def _readable(fd, seconds):
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(seconds * 1000))


# --- inside the sandbox: the judge ------------------------------------------------------------
def _judge(job, cfg, link):
    """One job: have the zygote start the program's process, then judge what it does."""
    call = job["test"] is not None                     # else a stdin problem
    if call:
        try:
            test = _test(job["test"])
        except Exception as e:                         # a broken test fails every program
            return {"status": "runtime error", "detail": f"the test does not compile: {e!r}"}
    link.tell({"solution": job["solution"], "inputs": None if call else list(job["inputs"] or [])})
    prog = _Program(link, cfg["timeout"], call)
    try:
        if call:
            prog.send({"names": test.wanted})          # it reads this once the program has run
        else:
            prog.end()                                 # the zygote ran it to its end (or the time limit)
        try:                                           # its first line, sent before the program ran
            ready = prog.ask()
        except _Failed:
            ready = {"setup failed": prog.failure[1]}
        if ready != {"ready": True}:                   # not the program's fault: say so loudly
            return {"status": "internal error", "detail": f"sandbox setup failed: {ready.get('setup failed')}"}
        return test.run(prog) if call else _run_cases(prog, len(job["inputs"] or []))
    finally:
        prog.end()


class _Failed(BaseException):
    """The program failed (an exception, a crash, the time limit). A BaseException: raised into the
    test through a stand-in, it is not caught by an `except Exception` there."""


class NotPlainData:
    """What the judge gets for a return value that is not plain data: equal only to itself."""

    def __init__(self, what):
        self.what = what

    def __repr__(self):
        return f"<{self.what}, not plain data>"


class _Program:
    """The judge's end of one program's process: requests to it and replies from it, one JSON line
    each, before the deadline. `failure` is the first way it failed: (verdict, detail)."""

    def __init__(self, link, timeout, call):
        self.link, self.timeout, self.call = link, timeout, call
        self.deadline = time.monotonic() + timeout
        if call:                                       # its exit ends every wait for a reply
            self.pidfd = os.pidfd_open(link.hear()["pid"])
            self.poll = select.poll()
            self.poll.register(self.pidfd, select.POLLIN)
            self.poll.register(link.replies, select.POLLIN)
        self.outgoing, self.pending, self.writing = b"", bytearray(), False
        self.status = self.failure = self.unplain = None
        self.sent_ahead = []                           # calls already sent, whose replies are on their way

    def send_ahead(self, name, calls):
        """Send every call a test will make before the first reply is read: one round trip between
        the judge and the program instead of one per call (each wakes two processes)."""
        self.sent_ahead = [{"call": name, "args": _pack(tuple(args)), "kwargs": _pack({})} for args in calls]
        for request in self.sent_ahead:
            self.send(request)

    def send(self, request):
        """Queue a request; it goes out while we wait for replies."""
        self.outgoing += (json.dumps(request) + "\n").encode()
        self._write()

    def ask(self, request=None):
        """Send `request` (if any), return the next reply (a dict); raise _Failed if none comes."""
        if request is not None:
            self.send(request)
        while b"\n" not in self.pending:
            if self.failure is not None:
                raise _Failed(*self.failure)
            if self.status is not None:                # it has ended, and all it wrote is here
                self.fail(*self._how_it_ended())
                continue
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.fail("timeout", f"still running after {self.timeout:g} s")
                continue
            ready = {fd for fd, _ in self.poll.poll(left * 1000)}
            self._write()
            if self.link.replies in ready:
                self._drain()
            if self.pidfd in ready and b"\n" not in self.pending:
                self.end()
        line, _, self.pending = self.pending.partition(b"\n")
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):
            reply = None
        if not isinstance(reply, dict):
            self.fail("runtime error", "the program's process sent something that is not a reply")
        elif "error" in reply:
            self.fail("memory limit" if reply["error"] == "memory limit" else "runtime error", str(reply.get("detail"))[:500])
        else:
            return reply
        raise _Failed(*self.failure)

    def _write(self):
        """Write what is queued, as far as the pipe takes it; wait for room only while some is left."""
        try:
            while self.outgoing:
                self.outgoing = self.outgoing[os.write(self.link.requests, self.outgoing):]
        except BlockingIOError:
            pass
        if bool(self.outgoing) != self.writing:
            self.writing = bool(self.outgoing)
            self.poll.register(self.link.requests, select.POLLOUT) if self.writing else self.poll.unregister(self.link.requests)

    def _drain(self, everything=False):
        """Read what it wrote: one read (a wait woke us up), or all there is (it has ended)."""
        while len(self.pending) <= OUTPUT_CAP + 4096:
            try:
                chunk = os.read(self.link.replies, 1 << 16)
            except BlockingIOError:
                return
            self.pending += chunk
            if not everything:
                return
        self.fail("runtime error", "the program sent more than a reply can hold")
        self.pending.clear()

    def fail(self, verdict, detail):
        if self.failure is None:
            self.failure = (verdict, detail)

    def _how_it_ended(self):
        if self.timed_out:
            return "timeout", f"still running after {self.timeout:g} s"
        if os.WIFSIGNALED(self.status) and os.WTERMSIG(self.status) == signal.SIGXCPU:
            return "timeout", "CPU time limit"
        code = os.waitstatus_to_exitcode(self.status)
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        last = ([line.strip() for line in self.stderr.splitlines() if line.strip()] or [""])[-1]
        return "runtime error", f"{how} before the tests finished" + (f": {last[:300]}" if last else "")

    def function(self, name):
        """A stand-in for the program's function `name`: plain data in, plain data back."""
        def call(*args, **kwargs):
            request = {"call": name, "args": _pack(args), "kwargs": _pack(kwargs)}
            if not self.sent_ahead:
                value = self.ask(request)["value"]
            elif self.sent_ahead.pop(0) == request:    # already on its way: only the reply is read
                value = self.ask()["value"]
            else:                                      # cannot happen for the tests that send ahead
                self.fail("internal error", "a test made another call than the one sent ahead")
                raise _Failed(*self.failure)
            try:
                value = _unpack(value)
            except Exception:
                self.fail("runtime error", "the program's process sent a garbled value")
                raise _Failed(*self.failure) from None
            if isinstance(value, NotPlainData):
                self.unplain = value.what
            return value
        call.__name__ = call.__qualname__ = name
        return call

    def end(self):
        """Have the zygote kill the program's process and all it left behind, and clean up (a stdin
        problem's program ends by itself): then its wait status, stdout and stderr are known, all
        it wrote to us is in `pending`, and the pipes are ready for the next program."""
        if self.status is None:
            if self.call:
                self.link.end()
                os.close(self.pidfd)
            ended = self.link.hear()
            self.status, self.timed_out = ended["status"], ended["timed_out"]
            self.stdout, self.stderr = ended["stdout"].encode("latin-1"), ended["stderr"]
            self._drain(everything=True)
            self.link.reset()


class _Test:
    """A call problem's test, run here with the program's names as stand-ins. A name of the program
    that is also a built-in's is not used, unless the test ends by calling `check(name)` on it:
    then it must be the program's."""

    def __init__(self, text):
        self.text, self.code = text, compile(text, "<test>", "exec")
        entry = re.search(r"^check\((\w+)\)\s*\Z", text, re.M)
        self.entry = entry[1] if entry and entry[1] in self.code.co_names else None    # not check(None)
        self.wanted = sorted(n for n in _names(self.code)
                             if not n.startswith("__") and (n not in builtins.__dict__ or n == self.entry))
        self.calls = _literal_calls(text) if self.entry else None

    def run(self, prog):
        namespace = {"__name__": "__test__", "__builtins__": builtins}
        try:
            described = prog.ask()["names"]            # the reply to the request sent at the start
            if self.entry in builtins.__dict__ and self.entry not in [d[0] for d in described]:
                raise NameError(f"name {self.entry!r} is not defined")
            kinds = {d[0]: d[1] for d in described}
            for name, kind, value in described:
                if name not in self.wanted:
                    continue
                if kind == "function":
                    namespace[name] = prog.function(name)
                elif kind == "module" and value in sys.modules and value != "__main__":
                    namespace[name] = sys.modules[value]   # the judge's own, untouched by the program
                else:
                    namespace[name] = _unpack(value) if kind == "data" else NotPlainData(f"a {value}")
            if self.calls and kinds.get(self.entry) == "function":
                prog.send_ahead(self.entry, self.calls)
            exec(self.code, namespace)
        except _Failed:
            pass
        except BaseException as e:                     # the test found it wrong, or ran into an error
            if prog.failure is None:
                status, detail = _explain(e, self.text)
                if status == "wrong answer" and prog.unplain:
                    detail += f" (the program returned {prog.unplain}: only plain data is compared)"
                return {"status": status, "detail": detail}
        finally:
            namespace.clear()                          # the test's functions and their globals form cycles
        if prog.failure is not None:
            return {"status": prog.failure[0], "detail": prog.failure[1]}
        return {"status": "ok"}


def _literal_calls(text):
    """The calls a test will make, in order, when it is nothing but `assert candidate(<literals>)
    == <literal>` lines and `check(<entry point>)` (HumanEval's usual shape and our benchmark's);
    else None. Such a test calls in exactly this order and stops at the first failed assert, so
    sending the calls ahead changes no verdict."""
    import ast                                         # the judge's alone: the zygote stays small
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return None
    if len(body) != 2 or not isinstance(body[0], ast.FunctionDef) or not isinstance(body[1], ast.Expr):
        return None
    fn, last = body[0], body[1].value
    a = fn.args
    if fn.name != "check" or fn.decorator_list or len(a.args) != 1 or a.posonlyargs or a.kwonlyargs or a.vararg \
            or a.kwarg or not (isinstance(last, ast.Call) and isinstance(last.func, ast.Name)
                               and last.func.id == "check" and len(last.args) == 1 and not last.keywords):
        return None
    calls = []
    for st in fn.body:
        if not (isinstance(st, ast.Assert) and st.msg is None and isinstance(st.test, ast.Compare)
                and [type(op) for op in st.test.ops] == [ast.Eq] and isinstance(st.test.left, ast.Call)
                and isinstance(st.test.left.func, ast.Name) and st.test.left.func.id == a.args[0].arg
                and not st.test.left.keywords):
            return None
        try:
            ast.literal_eval(st.test.comparators[0])
            args = [ast.literal_eval(x) for x in st.test.left.args]
            _pack(tuple(args))                         # plain data, or no sending ahead
        except Exception:
            return None
        calls.append(args)
    return calls or None


_tests = {}


def _test(text):
    """The _Test for `text`, compiled once: a problem's samples follow one another."""
    if text not in _tests:
        if len(_tests) >= 64:
            _tests.clear()
        _tests[text] = _Test(text)
    return _tests[text]


def _names(code):
    """Every name that `code` and the functions defined in it look up (or set)."""
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _explain(e, test):
    """(verdict, detail) for an exception in the test: an assert of the test failed, or an error."""
    try:
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if isinstance(e, AssertionError) and tb is not None and tb.tb_frame.f_code.co_filename == "<test>":
            return "wrong answer", test.splitlines()[tb.tb_lineno - 1].strip() + (f" ({e})" if str(e) else "")
        return "runtime error", f"{type(e).__name__}: {e}"[:500]
    except Exception:
        return "runtime error", "an exception that cannot be described"


def _run_cases(prog, cases):
    """A stdin problem: the outputs, cut at the case ends that the program's process reported."""
    try:
        ends = prog.ask()["ends"]
    except _Failed:
        return {"status": prog.failure[0], "detail": prog.failure[1]}
    except (KeyError, TypeError):
        ends = None
    if not (isinstance(ends, list) and len(ends) == cases and all(type(e) is int for e in ends)
            and ends == sorted(ends) and all(0 <= e <= len(prog.stdout) for e in ends)):
        return {"status": "runtime error", "detail": "garbled harness report"}
    return {"status": "ok", "outputs": [prog.stdout[a:b].decode("utf-8", "replace") for a, b in zip([0] + ends, ends)]}


# --- plain data, between the judge and the program's process ----------------------------------
_SETS = (set, frozenset, type({}.keys()), type({}.items()))   # dict views compare like sets
_BIG = 1 << 12000           # ints from here on go in hex: Python's JSON stops at 4300 digits
_TOO_BIG = "data too large or too deeply nested to compare"


def _pack(value, limit=1_000_000):
    """Plain data as JSON: None, bool, int, float, str and lists as themselves, the rest as
    {type: contents}; a subclass of a plain type as that type. TypeError for anything else, for
    more than `limit` items, or for data nested more than 100 deep."""
    return _pack_one(value, [limit], 0)


def _pack_one(v, budget, depth):
    t = type(v)
    if t is int:
        return v if -_BIG < v < _BIG else {"int": hex(v)}
    if t is str or t is float or t is bool or v is None:
        return v
    if t is list or t is tuple or t is dict:
        budget[0] -= len(v)
        if budget[0] < 0 or depth > 100:
            raise TypeError(_TOO_BIG)
        if t is dict:
            return {"dict": [[_pack_one(k, budget, depth + 1), _pack_one(x, budget, depth + 1)] for k, x in v.items()]}
        packed = [_pack_one(x, budget, depth + 1) for x in v]
        return packed if t is list else {"tuple": packed}
    for base, exact in ((bool, bool), (int, int), (float, float), (str, str)):   # subclasses: the value itself
        if isinstance(v, base):
            return _pack_one(exact.__new__(exact, v) if base is not bool else bool(v), budget, depth)
    if isinstance(v, complex):
        return {"complex": [complex.__complex__(v).real, complex.__complex__(v).imag]}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, dict):
        return _pack_one(dict(dict.items(v)), budget, depth)
    if isinstance(v, list):
        return _pack_one(list(list.__iter__(v)), budget, depth)
    if isinstance(v, tuple):
        return _pack_one(tuple(tuple.__iter__(v)), budget, depth)
    for kind in _SETS:
        if isinstance(v, kind):
            items = list(kind.__iter__(v))
            budget[0] -= len(items)
            if budget[0] < 0 or depth > 100:
                raise TypeError(_TOO_BIG)
            return {"frozenset" if kind is frozenset else "set": [_pack_one(x, budget, depth + 1) for x in items]}
    raise TypeError(f"a {type(v).__name__} is not plain data")


def _unpack(data, limit=1_000_000, hashed=10_000):
    """The value that _pack packed; a NotPlainData for what the program's process could not pack,
    and for more than `limit` items or more than `hashed` set members and dict keys (a program's
    set of colliding ints would take the judge quadratic time to rebuild)."""
    try:
        return _unpack_one(data, [limit, hashed])
    except OverflowError:
        return NotPlainData("a value too large to compare")


def _unpack_one(d, budget):
    if type(d) is list:
        budget[0] -= len(d)
        if budget[0] < 0:
            raise OverflowError
        return [_unpack_one(x, budget) for x in d]
    if type(d) is not dict:
        return d
    (kind, x), = d.items()
    if kind in ("tuple", "set", "frozenset", "dict"):
        budget[0] -= len(x)
        budget[1] -= len(x) if kind != "tuple" else 0
        if budget[0] < 0 or budget[1] < 0:
            raise OverflowError
        if kind == "dict":
            return {_unpack_one(k, budget): _unpack_one(v, budget) for k, v in x}
        return {"tuple": tuple, "set": set, "frozenset": frozenset}[kind](_unpack_one(y, budget) for y in x)
    if kind == "int":
        return int(x, 16)
    if kind == "bytes":
        return bytes.fromhex(x)
    if kind == "complex":
        return complex(*x)
    if kind == "?":
        return NotPlainData(str(x))
    raise ValueError(f"not packed data: {kind!r}")


# --- inside the sandbox: the program's process -----------------------------------------------
def _program(job, cfg, out, err, requests, replies):
    """In the program's process: lock down, run the program, then answer the judge (a call
    problem) or run the stdin cases. Nothing here is trusted: the program may change any of it."""
    inputs, zygote = job["inputs"] or [], os.getppid()
    try:
        os.setsid()
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the output cap a write fails (EFBIG)
        os.chdir(cfg["workdir"])
        fds = [_memfd_with(text) for text in inputs]
        moves = [(os.open(os.devnull, os.O_RDONLY), 0), (out, 1), (err, 2), (requests, CALLS_FD), (replies, CALLS_FD + 1)]
        for src, dst in moves + [(fd, CALLS_FD + 2 + i) for i, fd in enumerate(fds)]:
            os.dup2(src, dst)
        os.closerange(3, PATH_FD)
        os.closerange(PATH_FD + len(_path_fds), CALLS_FD)
        os.closerange(CALLS_FD + 2 + len(fds), os.sysconf("SC_OPEN_MAX"))
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setgid(cfg["uid"])
            os.setuid(cfg["uid"])
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)       # after setuid, which clears it
        if os.getppid() != zygote:                     # the zygote died before that
            os._exit(3)
        os.environ.update(HOME=cfg["workdir"], TMPDIR=cfg["workdir"])
        cpu = math.ceil(cfg["timeout"])
        for res, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, cfg["memory"], cfg["memory"]),
                                (resource.RLIMIT_FSIZE, OUTPUT_CAP, OUTPUT_CAP), (resource.RLIMIT_CORE, 0, 0),
                                (resource.RLIMIT_NPROC, cfg["nproc"], cfg["nproc"]),
                                (resource.RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES)):
            cur = resource.getrlimit(res)[1]
            resource.setrlimit(res, (soft, hard) if cur == resource.RLIM_INFINITY else (min(soft, cur), min(hard, cur)))
        sys.argv = ["solution.py"]
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        _send({"ready": True})                         # before the program runs: the judge may trust this one
    except BaseException as e:
        _send({"setup failed": repr(e)})
        os._exit(3)
    try:
        code = compile(job["solution"], "<solution>", "exec")
        if job["inputs"] is not None:                  # stdin style: each case a fresh __main__
            ends = []
            for i in range(len(inputs)):
                os.dup2(CALLS_FD + 2 + i, 0)
                sys.stdin, sys.stdout = open(0, encoding="utf-8", closefd=False), stdout
                sys.modules["__main__"] = main = types.ModuleType("__main__")
                try:
                    exec(code, main.__dict__)
                except SystemExit as e:                # exit() or exit(0) ends a case normally
                    if e.code not in (None, 0):
                        raise
                stdout.flush()
                ends.append(os.lseek(1, 0, os.SEEK_CUR))
            _send({"ends": ends})
            os._exit(0)
        namespace = {"__name__": "solution", "__builtins__": builtins}
        exec(code, namespace)                          # call style: define, then answer the judge
        failure = None
    except BaseException as e:
        failure = _error(e)
        if job["inputs"] is not None:
            _send(failure)
            os._exit(1)
    _serve(namespace if failure is None else {}, failure)
    os._exit(0)


def _serve(namespace, failure):
    """Answer the judge until it closes the pipe: what the program's names are, and calls."""
    functions, pending = {}, b""
    while True:
        while b"\n" not in pending:
            chunk = os.read(CALLS_FD, 1 << 16)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        request = json.loads(line)
        if failure is not None:
            _send(failure)
        elif "names" in request:
            found = [n for n in request["names"] if n in namespace]
            functions = {n: namespace[n] for n in found if callable(namespace[n])}
            _send({"names": [_describe(n, namespace[n]) for n in found]})
        else:
            try:
                value = functions[request["call"]](*_unpack(request["args"]), **_unpack(request["kwargs"]))
                try:
                    value = _pack(value)
                except TypeError as e:
                    value = {"?": str(e).split(" is not")[0]}
            except BaseException as e:
                _send(_error(e))
                continue
            _send({"value": value})


def _describe(name, value):
    """[name, kind, value] for the judge: a function (called through a stand-in), a module (the
    judge uses its own), plain data, or something else (a stand-in that equals nothing)."""
    if callable(value):
        return [name, "function", None]
    if isinstance(value, types.ModuleType):
        return [name, "module", value.__name__]
    try:
        return [name, "data", _pack(value)]
    except TypeError:
        return [name, "other", type(value).__name__]


def _send(message):
    """One line to the judge; a value too large for a reply goes as 'too large'."""
    line = (json.dumps(message) + "\n").encode()
    if len(line) > OUTPUT_CAP:
        line = (json.dumps({"value": {"?": "a value too large to compare"}}) + "\n").encode()
    _write_all(CALLS_FD + 1, line)


def _error(e):
    """An exception in the program, as the reply that says so."""
    try:
        if isinstance(e, MemoryError):
            return {"error": "memory limit", "detail": "MemoryError"}
        if isinstance(e, SystemExit):
            detail = f"SystemExit({e.code!r}) before the tests finished"
        elif isinstance(e, OSError) and e.errno == errno.EFBIG:
            detail = "output limit exceeded"
        else:
            detail = f"{type(e).__name__}: {e}"
        return {"error": "runtime error", "detail": detail[:500]}
    except BaseException:
        return {"error": "runtime error", "detail": "an exception that cannot be described"}


def _memfd_with(text):
    fd, data = os.memfd_create("stdin"), memoryview(text.encode("utf-8"))
    while data:
        data = data[os.write(fd, data):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


# --- inside the sandbox: cleaning up -----------------------------------------------------------
def _kill_group(pgid):
    try:
        if pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap_orphans():
    """Kill every descendant that was re-parented to us, again and again (killing one orphans
    its children), until none is left."""
    me = os.getpid()
    for _ in range(1000):
        try:
            with open(f"/proc/{me}/task/{me}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:                                # a kernel without CONFIG_PROC_CHILDREN
            kids = []
        if not kids:
            return
        for k in kids:
            try:
                _kill_group(os.getpgid(k))
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for k in kids:
            try:
                os.waitpid(k, 0)
            except ChildProcessError:
                pass


def _clean_shared(uid):
    """As root, after a program: remove what its uid left in the world-writable directories (none
    of its processes is left to add more). A directory is listed again only if its mtime changed
    since we last listed it, and that mtime was already old then (timestamps are coarse: a recent
    one does not prove that nothing was added since)."""
    import shutil
    for d in SHARED_DIRS:
        try:
            mtime = os.stat(d).st_mtime_ns
            if _shared_seen.get(d) == mtime:
                continue
            for entry in os.scandir(d):
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            _shared_seen[d] = mtime if time.time_ns() - mtime > 100_000_000 else None
        except OSError:
            continue


def _empty_dir(path, uid):
    """An empty directory, mode 700, of `uid`: `path` itself if the last program left it clean
    (usually: a rmdir + mkdir costs ~1.5 ms on ext4), else emptied, or failing that a new one."""
    import shutil
    try:
        st = os.stat(path, follow_symlinks=False)
        if st.st_mode == 0o40700 and st.st_uid == (os.getuid() if uid is None else uid) and not os.listdir(path):
            return path
    except OSError:
        pass
    _unlock(path)
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        head, name = os.path.split(path)
        path = os.path.join(head, f"{name.split('.')[0]}.{time.monotonic_ns()}")
    os.mkdir(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def _unlock(path):
    """Unless we are root: make directories that a program locked (chmod 000) enterable again."""
    stack = [] if os.geteuid() == 0 or os.path.islink(path) else [path]
    while stack:
        d = stack.pop()
        try:
            os.chmod(d, 0o700)
            stack += [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
        except OSError:
            pass


# --- outside: the parent's end ------------------------------------------------------------
class Sandbox:
    """The parent's end of one worker: start it, hand it jobs, restart it when it died."""

    def __init__(self, cfg):
        self.cfg, self.proc = cfg, None

    def run(self, job):
        if self.proc is None:
            self.start()
        res = self._ask(job, self.cfg["timeout"] + 30)
        if res is None:                                # it died (or hung): the next job starts a new one
            self.close()
            return {"status": "runtime error", "detail": "the sandbox worker died while running this program"}
        if res.pop("restart", False):
            self.close()
        return res

    def start(self):
        import subprocess
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV, cwd=self.cfg["dir"])
        if self._ask(self.cfg, 30) != {"ready": True}:   # a worker that cannot start is our problem
            self.close()
            raise RuntimeError("the sandbox worker did not start (its error, if any, is above)")

    def _ask(self, message, timeout):
        """Send one line, read one line; None when the worker died or hung."""
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
            poll = select.poll()
            poll.register(self.proc.stdout, select.POLLIN)
            return json.loads(self.proc.stdout.readline()) if poll.poll(timeout * 1000) else None
        except (OSError, ValueError):
            return None

    def close(self):
        """EOF lets the worker and its zygote exit; kill them if they do not (programs die with them)."""
        if self.proc is not None:
            import subprocess
            try:
                self.proc.stdin.close()
                self.proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None


def _sandbox_uids(count):
    """As root: `count` uids from SANDBOX_UID on that no account uses and no other evaluator runs
    programs as (each is held through an abstract socket named after it, freed when we exit), and
    those sockets. Else: None (run as us), and no sockets."""
    if os.geteuid() != 0:
        return [None] * count, []
    import pwd
    import socket
    taken, uids, held = {u.pw_uid for u in pwd.getpwall()}, [], []
    for uid in range(SANDBOX_UID, SANDBOX_UID + len(taken) + 1000):
        if len(uids) == count:
            break
        if uid in taken:
            continue
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(f"\0ssd-sandbox-uid-{uid}")
        except OSError:                                # another evaluator's (or a program took the name)
            s.close()
            continue
        uids.append(uid)
        held.append(s)
    if not uids:
        raise RuntimeError(f"no free sandbox uid from {SANDBOX_UID} on")
    return uids, held


def _nproc_limit():
    """RLIMIT_NPROC counts all tasks of a uid: a sandbox uid has only its program's; as a normal
    user, allow what runs now plus a margin."""
    if os.geteuid() == 0:
        return 64
    mine = 0
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            mine += len(os.listdir(f"/proc/{p}/task")) if os.stat(f"/proc/{p}").st_uid == os.getuid() else 0
        except OSError:
            pass
    return mine + 256


class _Terminated(BaseException):
    """SIGTERM arrived during run_all: clean up like after Ctrl-C, then die of it."""


def _on_sigterm(signum, frame):
    raise _Terminated


def run_all(jobs, workers=None, timeout=3.0, memory_mb=512, progress=True):
    """Run every job (dict key -> {solution, test, inputs}) in one worker per core.
    Returns key -> {status: ok | timeout | runtime error | ..., detail, outputs (stdin jobs)}.
    SIGTERM (when it would kill us, in the main thread) still cleans up first, as Ctrl-C does."""
    import shutil
    import tempfile
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed
    from queue import Queue
    from tqdm import tqdm
    results = {}
    if not jobs:
        return results
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    catch = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    late, terminated, base, held, pool, free = [], False, None, [], None, Queue()
    try:
        if catch:
            signal.signal(signal.SIGTERM, _on_sigterm)
        base = tempfile.mkdtemp(prefix="ssd-eval-")
        os.chmod(base, 0o711)                          # the programs' uids may enter, not list
        uids, held = _sandbox_uids(workers)
        nproc = _nproc_limit()
        for i, uid in enumerate(uids):
            free.put(Sandbox({"dir": base, "name": f"w{i}", "uid": uid, "timeout": timeout,
                              "memory": memory_mb << 20, "nproc": nproc}))

        def run(key):
            box = free.get()
            try:
                return key, box.run(jobs[key])
            finally:
                free.put(box)
        pool = ThreadPoolExecutor(len(uids))
        futures = [pool.submit(run, key) for key in jobs]
        for f in tqdm(as_completed(futures), total=len(jobs), desc="judging", unit="prog", disable=None if progress else True):
            key, res = f.result()
            if res["status"] == "internal error":
                raise RuntimeError(res["detail"])
            results[key] = res
    except _Terminated:
        terminated = True
    finally:
        if catch:                                      # a SIGTERM now waits for the cleanup
            signal.signal(signal.SIGTERM, lambda signum, frame: late.append(signum))
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        while not free.empty():
            free.get().close()
        for s in held:
            s.close()
        if base is not None:
            _unlock(base)
            shutil.rmtree(base, ignore_errors=True)
        if catch:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if terminated or late:
        os.kill(os.getpid(), signal.SIGTERM)
    return results


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    worker_main()
