"""The worker, one per core: a fresh `python -I -S` that forks the zygote and then is the judge.

    python -I -S sandbox/worker.py --worker     # started by parent.py; a config line, then jobs

The worker reads a config line and answers each job line with a result line, on a socket (which
/proc/<pid>/fd cannot open). In its first lines it becomes non-dumpable, so that a program run as
the same user cannot open its pipes through /proc/<pid>/fd, read its memory or ptrace it; then it
imports what the programs may use, caps its own memory, and forks the zygote. The zygote never sees a test: it only forks a process
for each program (a fresh interpreter in a few ms, sharing the zygote's hash seed), waits for
it, kills it and all it left, and cleans up (cleanup.py).
"""
import ctypes

ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)                 # PR_SET_DUMPABLE 0: first, before anything else runs

import builtins                                        # noqa: E402
import gc                                              # noqa: E402
import json                                            # noqa: E402
import os                                              # noqa: E402
import resource                                        # noqa: E402
import signal                                          # noqa: E402
import sys                                             # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":                             # the package's folder is not on an isolated path
    sys.path.insert(0, ROOT)

from sandbox.cleanup import (clean_ipc, clean_shared, empty_dir, kill_group, private_ipc,  # noqa: E402
                             reap_orphans)
from sandbox.common import (JUDGE_BUSY, JUDGE_GRACE, JUDGE_MEMORY, OUTPUT_CAP, PATH_FD,  # noqa: E402
                            PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG, WORKER_DIED, libc, prctl, readable, short,
                            write_all)
from sandbox.judge import ZygoteGone, judge           # noqa: E402
from sandbox.program import run_program                # noqa: E402

if __name__ == "__main__":
    sys.path.remove(ROOT)     # programs import the standard library (and could import sandbox's modules, already loaded)

PRELOAD = ("typing", "math", "collections", "itertools", "functools", "heapq", "bisect", "string")


def worker_main():
    """A config line, then for each job line one result line, until EOF on stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the parent, which closes us
    ctl_in, ctl_out = os.fdopen(os.dup(0), "rb"), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0), os.dup2(null, 1)
    if libc() is not None:
        libc().mallopt(-8, 1)   # M_ARENA_MAX = 1: each extra malloc arena reserves 64 MB of address space
    path_fds = _import_through_fds()
    for name in PRELOAD:                               # once here instead of once per program
        __import__(name)
    builtins.exit = builtins.quit = _quit             # what `site` would have added
    cfg = json.loads(ctl_in.readline())
    cfg["path_fds"] = path_fds
    (cmd_r, cmd_w), (end_r, end_w), (res_r, res_w), (req_r, req_w), (rep_r, rep_w) = [os.pipe() for _ in range(5)]
    judge_pid = os.getpid()
    zygote = os.fork()
    if zygote == 0:                                    # before any test reached us
        for fd in (ctl_in.fileno(), cmd_w, end_w, res_r, req_w, rep_r):
            os.close(fd)
        try:                                           # ctl_out kept: the zygote's last word, if it must stop us
            zygote_main(cfg, judge_pid, cmd_r, end_r, res_w, req_r, rep_w, ctl_out)
        finally:
            os._exit(0)
    for fd in (cmd_r, end_r, res_w):
        os.close(fd)
    signal.signal(signal.SIGTERM, lambda signum, frame: _stop(zygote))   # the parent stops us (Ctrl-C, SIGTERM)
    # a program's reply can take the judge hundreds of MB to unpack: a cap fails that program alone
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (JUDGE_MEMORY if hard == resource.RLIM_INFINITY else min(JUDGE_MEMORY, hard), hard))
    link = Link(cmd_w, end_w, res_r, req_w, rep_r, req_r, rep_w)
    write_all(ctl_out, json.dumps(link.hear()).encode() + b"\n")   # the zygote's {"ready": true}
    for line in ctl_in:
        try:
            res = judge(json.loads(line), cfg, link)
        except ZygoteGone:
            res = {"status": "runtime error", "detail": WORKER_DIED, "restart": True}
        except MemoryError:                            # the program's own doing: not run again
            res = {"status": "memory limit", "detail": "the judge ran out of memory on what the program returned",
                   "restart": True, "final": True}
        except Exception as e:                         # our bug, not the program's: say so loudly
            res = {"status": "internal error", "detail": f"sandbox worker failed: {e!r}", "restart": True}
        res["detail"] = short(res.get("detail", ""))
        write_all(ctl_out, (json.dumps(res) + "\n").encode())
        if res.get("restart"):
            break
    os.close(cmd_w)                                    # EOF ends the zygote
    os.waitpid(zygote, 0)


def _stop(zygote):
    """Have the zygote kill the running program and all it left, wait for that, then exit."""
    os.kill(zygote, signal.SIGTERM)
    os.waitpid(zygote, 0)
    os._exit(1)


def _quit(code=None):
    raise SystemExit(code)


def _import_through_fds():
    """The programs' uid may not reach the standard library (a Python under /root, say), but a
    process may always use its own fds: open the sys.path directories and import through
    /proc/self/fd/N, here and in the children, which inherit the fds. Returns how many."""
    moved = {}
    for path in sys.path:
        if path in moved:                              # the same folder twice: one fd
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        moved[path] = f"/proc/self/fd/{os.dup2(fd, PATH_FD + len(moved))}"
        os.close(fd)

    def remap(p):
        old = max((o for o in moved if p == o or p.startswith(o + "/")), key=len, default=None)
        return p if old is None else moved[old] + p[len(old):]
    sys.path[:] = [remap(p) for p in sys.path]
    for m in list(sys.modules.values()):               # packages already imported (encodings, json, ...)
        if isinstance(getattr(m, "__path__", None), list):
            m.__path__[:] = [remap(p) for p in m.__path__]
    sys.path_importer_cache.clear()
    return len(moved)


class Link:
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
            write_all(fd, data)
        except OSError:
            raise ZygoteGone from None

    def hear(self):
        line = self.res.readline()
        if not line:
            raise ZygoteGone
        return json.loads(line)

    def reset(self):
        """After a program (none of its processes is left): empty the pipes and undo what it may
        have set on its ends (O_NONBLOCK, which the next program would get too)."""
        for fd in self.theirs:
            os.set_blocking(fd, True)
        for fd in (self.theirs[0], self.replies):
            while readable(fd, 0) and os.read(fd, 1 << 16):
                pass


# --- the zygote -----------------------------------------------------------------------------------
def zygote_main(cfg, judge_pid, commands, ends, answers, requests, replies, parent):
    """For each job from the judge: fork the program's process. A call problem's runs until the
    judge, told its pid, says it is done; a stdin problem's until it exits (or the time limit).
    Then kill it and all it left, clean up, and say how it ended (with its output). A judge that
    is not done by the time limit + JUDGE_GRACE (a test kept busy by what the program returned,
    say) is stopped: the zygote tells the parent so on the worker's channel, kills the judge (and
    so itself), and the program fails without a second run."""
    signal.signal(signal.SIGTERM, _judge_gone)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)            # the judge is gone (stopped, Ctrl-C): clean up, then go
    if os.getppid() != judge_pid:
        return
    prctl(PR_SET_CHILD_SUBREAPER, 1)                   # orphaned descendants come back to us
    uid = cfg["uid"]
    if uid is not None and not private_ipc():  # else System V objects are removed one by one
        cfg["ipc_cleanup"] = True
    gc.freeze()                                        # keep the children's copies of our pages shared
    commands = os.fdopen(commands, "rb")
    if uid is not None:                                # what an evaluator that was killed left behind
        clean_shared(uid, again=True)
    cfg["workdir"] = empty_dir(os.path.join(cfg["dir"], cfg["name"]), uid, set_aside=True)
    write_all(answers, b'{"ready": true}\n')
    try:
        _serve(cfg, judge_pid, commands, ends, answers, requests, replies, parent)
    except _JudgeGone:                                 # kill the program and all it left, whatever it was doing
        reap_orphans()


class _JudgeGone(BaseException):
    """SIGTERM, sent to the zygote when the judge dies: the worker is being stopped."""


def _judge_gone(signum, frame):
    raise _JudgeGone


def _serve(cfg, judge_pid, commands, ends, answers, requests, replies, parent):
    """The zygote's loop: one program's process per job, until the judge closes the pipe."""
    for line in commands:
        job = json.loads(line)
        out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
        pid = os.fork()
        if pid == 0:
            try:
                run_program(job, cfg, out, err, requests, replies)
            finally:
                os._exit(4)                            # never fall back into our loop
        timed_out = stuck = False
        if job["inputs"] is None:                      # a call problem: until the judge is done with it
            write_all(answers, (json.dumps({"pid": pid}) + "\n").encode())
            stuck = not readable(ends, cfg["timeout"] + JUDGE_GRACE)
            if not stuck:
                os.read(ends, 1)                       # b"." (or b"": the judge is gone)
        else:                                          # a stdin problem: until it ends
            pidfd = os.pidfd_open(pid)
            timed_out = not readable(pidfd, cfg["timeout"])
            os.close(pidfd)
        os.kill(pid, signal.SIGKILL)
        kill_group(pid)                        # and whatever it left running
        status = os.waitpid(pid, 0)[1]
        reap_orphans()
        stdout = os.pread(out, min(os.fstat(out).st_size, OUTPUT_CAP), 0) if job["inputs"] is not None else b""
        stderr = os.pread(err, 2000, max(0, os.fstat(err).st_size - 2000)).decode("utf-8", "replace")
        for fd in (out, err):
            os.close(fd)
        _clean_after(cfg)
        if stuck:                                      # the judge goes, and we with it
            write_all(parent, (json.dumps({"zygote": JUDGE_BUSY}) + "\n").encode())
            os.kill(judge_pid, signal.SIGKILL)
            return
        ended = {"status": status, "timed_out": timed_out, "stdout": stdout.decode("latin-1"), "stderr": stderr}
        write_all(answers, (json.dumps(ended, ensure_ascii=False) + "\n").encode())


def _clean_after(cfg):
    """Its working directory emptied (or a new one), and as root what its uid left elsewhere
    removed. Nothing a program left may stop this loop: an error here is swallowed, and what
    could not be removed waits for the next program's cleanup (and the parent's, at the end)."""
    try:
        cfg["workdir"] = empty_dir(cfg["workdir"], cfg["uid"])
    except Exception:
        pass
    if cfg["uid"] is None:
        return
    try:
        clean_shared(cfg["uid"])
        if cfg.get("ipc_cleanup"):
            clean_ipc(cfg["uid"])
    except Exception:
        pass


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    worker_main()
