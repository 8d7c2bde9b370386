"""The program's process: lock it down, run the program, then answer the judge or run the cases.

Runs in a process forked from the zygote, which never saw a test. Nothing here is trusted: once
the program runs it may change any of it, so whatever it reports goes to the judge or to
evaluate.py, which believe only what they can check (judge.py, evaluate.outputs_match).
"""
import builtins
import errno
import json
import math
import os
import resource
import signal
import sys
import types

from sandbox.common import (CALLS_FD, OPEN_FILES, OUTPUT_CAP, PATH_FD, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG,
                            prctl, write_all)
from sandbox.wire import not_plain, pack, unpack


def run_program(job, cfg, out, err, requests, replies):
    """In the program's process: lock down, run the program, then answer the judge (a call
    problem) or run the stdin cases. Nothing here is trusted: the program may change any of it."""
    inputs, zygote = job["inputs"] or [], os.getppid()
    try:
        os.setsid()
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)   # the zygote's handler is not the program's
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the output cap a write fails (EFBIG)
        os.chdir(cfg["workdir"])
        moves = [(os.open(os.devnull, os.O_RDONLY), 0), (out, 1), (err, 2), (requests, CALLS_FD), (replies, CALLS_FD + 1)]
        for src, dst in moves:
            os.dup2(src, dst)
        os.closerange(3, PATH_FD)
        os.closerange(PATH_FD + cfg["path_fds"], CALLS_FD)
        os.closerange(CALLS_FD + 2, os.sysconf("SC_OPEN_MAX"))
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setgid(cfg["uid"])
            os.setuid(cfg["uid"])
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)        # after setuid, which clears it
        if os.getppid() != zygote:                     # the zygote died before that
            os._exit(3)
        os.environ.update(HOME=cfg["workdir"], TMPDIR=cfg["workdir"])
        cpu = math.ceil(cfg["timeout"])
        for res, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, cfg["memory"], cfg["memory"]),
                                (resource.RLIMIT_FSIZE, OUTPUT_CAP, OUTPUT_CAP), (resource.RLIMIT_CORE, 0, 0),
                                (resource.RLIMIT_NPROC, cfg["nproc"], cfg["nproc"]),
                                (resource.RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES),
                                (resource.RLIMIT_MSGQUEUE, 0, 0)):    # no POSIX message queue outlives it
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
            for text in inputs:                        # each case's input in a memfd of its own, made
                fd = _memfd_with(text)                 # now: no fd per case waits above the fd limit
                if fd != 0:                            # (0 itself when the last case closed its stdin)
                    os.dup2(fd, 0)
                    os.close(fd)
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
                value = functions[request["call"]](*unpack(request["args"]), **unpack(request["kwargs"]))
                try:
                    value = pack(value)
                except TypeError as e:
                    value = not_plain(value, e)
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
        return [name, "data", pack(value)]
    except TypeError:
        return [name, "other", type(value).__name__]


def _send(message):
    """One line to the judge; a value too large for a reply goes as 'too large'."""
    line = (json.dumps(message) + "\n").encode()
    if len(line) > OUTPUT_CAP:
        line = (json.dumps({"value": {"?": ["a value too large to compare", True]}}) + "\n").encode()
    write_all(CALLS_FD + 1, line)


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
