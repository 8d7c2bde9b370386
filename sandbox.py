"""Run untrusted programs safely enough and fast: the sandbox behind evaluate.py.

    from sandbox import run_all
    results = run_all({key: {"solution": src, "test": test_code_or_None, "inputs": stdin_cases_or_None}})

The sandbox (Linux >= 5.3). Per core, a "zygote": a fresh `python -I -S` with no variables of
ours (and no site-packages: programs import only the standard library) that loads this file and a
few standard modules (typing, math, collections, ...), then only forks. Each program runs in a
forked child that never ran untrusted code - a fresh interpreter for a few ms instead of ~15 ms
plus imports (but children share the zygote's hash seed). The child starts a new session and
gets limits (CPU seconds, 512 MB of address space, 8 MB per output file, a process cap, no core
dumps), an empty working directory (emptied after it), HOME and TMPDIR there, stdin from the
test case (else /dev/null), stdout and stderr in capped anonymous files and, when we are root,
a uid of its own (64000 + worker, no groups, no_new_privs) that cannot write your files, signal
your processes or another worker's program. The zygote kills the process group at the
wall-clock limit and then everything the program left behind: it is a child subreaper, so
setsid'ed and daemonized descendants come back to it. A program passes only if the harness,
after the last test, writes a random per-run nonce to a private pipe and the process then exits
with 0: an early sys.exit(0) or os._exit(0), or "passed" printed by a program, fails.

What it does NOT protect against (run truly hostile code in a VM or container):
- Code written to attack the harness, which shares its interpreter: it can find the nonce and
  the pipe (frames, gc, /proc/self/fd), skip asserts with sys.settrace, return an object whose
  __eq__ is always True to fool `assert f(x) == y`, or use ctypes to do anything its uid may.
- No namespaces, no seccomp: the network is reachable, world-readable files can be read,
  world-writable places (/tmp, /dev/shm) can be written and are not cleaned; tmpfs memory and
  disk use (many capped files) are bounded only by the time limit.
- Not run as root, the program runs as you: it can read and write your files, kill your
  processes (the evaluator too: a dead worker is restarted and the program fails) and read
  their /proc/*/environ.
A stdin problem's cases run in one child, each with a fresh __main__ and its own stdin: imports
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
# parent-only modules (subprocess, shutil, tempfile, threading, tqdm) are imported where they are
# used: every module the zygote maps makes each fork slower

PRELOAD = ("typing", "math", "collections", "itertools", "functools", "heapq", "bisect", "string")
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}   # the zygote's whole environment
SANDBOX_UID = 64000         # as root, worker i runs its programs as uid SANDBOX_UID + i
OUTPUT_CAP = 8 << 20        # bytes per output file (stdout, stderr, or any file the program writes)
PATH_FD, REPORT_FD = 900, 1000   # child fds: sys.path directories; private pipe, stdin cases after it
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38


# --- inside the sandbox: the zygote and its children ------------------------------------------
_libc, _path_fds, _os_exit = None, [], os._exit


def _prctl(option, value):
    if _libc is not None:
        _libc.prctl(option, value, 0, 0, 0)


def zygote_main():
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
    _prctl(PR_SET_CHILD_SUBREAPER, 1)                  # orphaned descendants come back to us
    _import_through_fds()
    for name in PRELOAD:                               # once here instead of once per program
        __import__(name)
    builtins.exit = builtins.quit = _quit             # what `site` would have added
    gc.freeze()                                        # keep the children's copies of our pages shared
    cfg = json.loads(ctl_in.readline())
    cfg["workdir"] = _empty_dir(os.path.join(cfg["dir"], cfg["name"]), cfg["uid"])
    os.write(ctl_out, b'{"ready": true}\n')
    for line in ctl_in:
        try:
            res = _run_job(json.loads(line), cfg)
        except Exception as e:                         # our bug, not the program's: say so loudly
            res = {"status": "internal error", "detail": f"sandbox worker failed: {e!r}"}
        out = (json.dumps(res) + "\n").encode()
        while out:
            out = out[os.write(ctl_out, out):]


def _quit(code=None):
    raise SystemExit(code)


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


def _run_job(job, cfg):
    """Fork a child for one program, wait (killing it at the limit), clean up, say what happened."""
    out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
    r, w = os.pipe()
    nonce = os.urandom(16).hex().encode()
    pid = os.fork()
    if pid == 0:
        try:
            _child(job, cfg, out, err, w, nonce)
        finally:
            _os_exit(4)                                # never fall back into our loop
    os.close(w)
    pidfd = os.pidfd_open(pid)
    poll = select.poll()
    poll.register(pidfd, select.POLLIN)
    timed_out = not poll.poll(cfg["timeout"] * 1000)
    os.close(pidfd)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _kill_group(pid)                                   # and whatever it left running
    status = os.waitpid(pid, 0)[1]
    _sweep()
    os.set_blocking(r, False)
    try:
        report = os.read(r, 1 << 16)
    except BlockingIOError:
        report = b""
    stdout = os.pread(out, min(os.fstat(out).st_size, OUTPUT_CAP), 0)
    stderr = os.pread(err, 2000, max(0, os.fstat(err).st_size - 2000)).decode("utf-8", "replace")
    for fd in (r, out, err):
        os.close(fd)
    cfg["workdir"] = _empty_dir(cfg["workdir"], cfg["uid"])
    if timed_out:
        return {"status": "timeout", "detail": f"still running after {cfg['timeout']:g} s"}
    status, detail = _outcome(status, report, nonce, stderr)
    if status == "ok" and job["inputs"] is not None:   # cut stdout at the case ends the harness saw
        ends = [int(x) for x in detail.split(",")] if re.fullmatch(r"\d+(,\d+)*", detail) else []
        if len(ends) != len(job["inputs"]) or ends != sorted(ends) or ends[-1] > len(stdout):
            return {"status": "runtime error", "detail": "garbled harness report"}
        return {"status": "ok", "outputs": [stdout[a:b].decode("utf-8", "replace") for a, b in zip([0] + ends, ends)]}
    return {"status": status, "detail": detail}


def _child(job, cfg, out, err, report, nonce):
    """In the forked child: lock down, run the program, report through the private pipe."""
    write, exit_ = os.write, os._exit                  # ours, whatever the program does to `os`

    def say(kind, text=""):
        write(REPORT_FD, kind + nonce + text.encode("utf-8", "replace")[:500].replace(b"\n", b" ") + b"\n")
    inputs, zygote = job["inputs"] or [], os.getppid()
    try:
        os.setsid()
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the output cap a write fails (EFBIG)
        os.chdir(cfg["workdir"])
        fds = [_memfd_with(text) for text in inputs]
        moves = [(os.open(os.devnull, os.O_RDONLY), 0), (out, 1), (err, 2), (report, REPORT_FD)]
        for src, dst in moves + [(fd, REPORT_FD + 1 + i) for i, fd in enumerate(fds)]:
            os.dup2(src, dst)
        os.closerange(3, PATH_FD)
        os.closerange(PATH_FD + len(_path_fds), REPORT_FD)
        os.closerange(REPORT_FD + 1 + len(fds), os.sysconf("SC_OPEN_MAX"))
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setgid(cfg["uid"])
            os.setuid(cfg["uid"])
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)       # after setuid, which clears it
        if os.getppid() != zygote:                     # the zygote died before that
            exit_(3)
        os.environ.update(HOME=cfg["workdir"], TMPDIR=cfg["workdir"])
        cpu = math.ceil(cfg["timeout"])
        for res, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, cfg["memory"], cfg["memory"]),
                                (resource.RLIMIT_FSIZE, OUTPUT_CAP, OUTPUT_CAP), (resource.RLIMIT_CORE, 0, 0),
                                (resource.RLIMIT_NPROC, cfg["nproc"], cfg["nproc"])):
            cur = resource.getrlimit(res)[1]
            resource.setrlimit(res, (soft, hard) if cur == resource.RLIM_INFINITY else (min(soft, cur), min(hard, cur)))
        sys.argv = ["solution.py"]
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
    except BaseException as e:
        say(b"X", f"sandbox setup failed: {e!r}")
        exit_(3)
    try:
        code = compile(job["solution"], "<solution>", "exec")
        if job["test"] is not None:                    # call style: tests in the program's namespace
            g = {"__name__": "solution", "__builtins__": builtins}
            exec(code, g)
            exec(compile(job["test"], "<test>", "exec"), g)
            say(b"P")
        else:                                          # stdin style: each case a fresh __main__
            ends = []
            for i in range(len(inputs)):
                os.dup2(REPORT_FD + 1 + i, 0)
                sys.stdin, sys.stdout = open(0, encoding="utf-8", closefd=False), stdout
                sys.modules["__main__"] = main = types.ModuleType("__main__")
                try:
                    exec(code, main.__dict__)
                except SystemExit as e:                # exit() or exit(0) ends a case normally
                    if e.code not in (None, 0):
                        raise
                stdout.flush()
                ends.append(os.lseek(1, 0, os.SEEK_CUR))
            say(b"P", ",".join(map(str, ends)))
        exit_(0)
    except BaseException as e:
        try:
            say(*_explain(e, job["test"] or ""))
        finally:
            exit_(1)


def _explain(e, test):
    """(kind, detail) for an exception: W = an assert of the test failed, M = memory, E = error."""
    try:
        if isinstance(e, MemoryError):
            return b"M", "MemoryError"
        if isinstance(e, SystemExit):
            return b"E", f"SystemExit({e.code!r}) before the tests finished"
        if isinstance(e, OSError) and e.errno == errno.EFBIG:
            return b"E", "output limit exceeded"
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if isinstance(e, AssertionError) and tb is not None and tb.tb_frame.f_code.co_filename == "<test>":
            return b"W", test.splitlines()[tb.tb_lineno - 1].strip() + (f" ({e})" if str(e) else "")
        return b"E", f"{type(e).__name__}: {e}"
    except BaseException:
        return b"E", "an exception that cannot be described"


def _memfd_with(text):
    fd, data = os.memfd_create("stdin"), memoryview(text.encode("utf-8"))
    while data:
        data = data[os.write(fd, data):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _kill_group(pgid):
    try:
        if pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _sweep():
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


def _outcome(status, report, nonce, stderr):
    """(status, detail) from the wait status and the harness's report (only lines with the nonce)."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return "timeout", "CPU time limit"
    code = os.waitstatus_to_exitcode(status)
    ours = [line for line in report.split(b"\n") if line[1:33] == nonce]
    if code == 0 and any(line[:1] == b"P" for line in ours):
        return "ok", next(line for line in ours if line[:1] == b"P")[33:].decode()
    kinds = {b"W": "wrong answer", b"M": "memory limit", b"E": "runtime error", b"X": "internal error"}
    if ours and ours[0][:1] in kinds:
        return kinds[ours[0][:1]], ours[0][33:].decode("utf-8", "replace")
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    last = ([line.strip() for line in stderr.splitlines() if line.strip()] or [""])[-1]
    return "runtime error", f"{how} before the tests finished" + (f": {last[:300]}" if last else "")


# --- outside: the parent's end ------------------------------------------------------------
class Sandbox:
    """The parent's end of one zygote: start it, hand it jobs, restart it when it died."""

    def __init__(self, cfg):
        self.cfg, self.proc = cfg, None

    def run(self, job):
        if self.proc is None:
            self.start()
        res = self._ask(job, self.cfg["timeout"] + 30)
        if res is None:                                # it died (or hung): the next job starts a new one
            self.close()
            return {"status": "runtime error", "detail": "the sandbox worker died while running this program"}
        return res

    def start(self):
        import subprocess
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__), "--zygote"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV, cwd=self.cfg["dir"])
        if self._ask(self.cfg, 30) != {"ready": True}:   # a worker that cannot start is our problem
            self.close()
            raise RuntimeError("the sandbox worker did not start (its error, if any, is above)")

    def _ask(self, message, timeout):
        """Send one line, read one line; None when the zygote died or hung."""
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
            poll = select.poll()
            poll.register(self.proc.stdout, select.POLLIN)
            return json.loads(self.proc.stdout.readline()) if poll.poll(timeout * 1000) else None
        except (OSError, ValueError):
            return None

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None


def _sandbox_uids(count):
    """As root: `count` uids from SANDBOX_UID on that no account uses. Else: None (run as us)."""
    if os.geteuid() != 0:
        return [None] * count
    import pwd
    taken = {u.pw_uid for u in pwd.getpwall()}
    return [u for u in range(SANDBOX_UID, SANDBOX_UID + count + len(taken)) if u not in taken][:count]


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


def run_all(jobs, workers=None, timeout=3.0, memory_mb=512, progress=True):
    """Run every job (dict key -> {solution, test, inputs}) in one zygote per core.
    Returns key -> {status: ok | timeout | runtime error | ..., detail, outputs (stdin jobs)}."""
    import shutil
    import tempfile
    from concurrent.futures import ThreadPoolExecutor, as_completed
    from queue import Queue
    from tqdm import tqdm
    results = {}
    if not jobs:
        return results
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    base = tempfile.mkdtemp(prefix="ssd-eval-")
    os.chmod(base, 0o711)                          # the programs' uids may enter, not list
    free, nproc = Queue(), _nproc_limit()
    for i, uid in enumerate(_sandbox_uids(workers)):
        free.put(Sandbox({"dir": base, "name": f"w{i}", "uid": uid, "timeout": timeout,
                          "memory": memory_mb << 20, "nproc": nproc}))

    def run(key):
        box = free.get()
        try:
            return key, box.run(jobs[key])
        finally:
            free.put(box)
    pool = ThreadPoolExecutor(workers)
    try:
        futures = [pool.submit(run, key) for key in jobs]
        for f in tqdm(as_completed(futures), total=len(jobs), desc="judging", unit="prog", disable=None if progress else True):
            key, res = f.result()
            if res["status"] == "internal error":
                raise RuntimeError(res["detail"])
            results[key] = res
    finally:
        pool.shutdown(cancel_futures=True)
        while not free.empty():
            free.get().close()
        _unlock(base)
        shutil.rmtree(base, ignore_errors=True)
    return results


if __name__ == "__main__" and sys.argv[1:] == ["--zygote"]:
    zygote_main()
