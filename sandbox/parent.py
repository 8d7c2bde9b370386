"""The parent's end: run_all() hands jobs to one worker per core and collects one result per job.

    from sandbox import run_all
    results = run_all({key: {"solution": src, "test": test_code_or_None, "inputs": stdin_cases_or_None}})

A worker that dies (killed by its program, or by what an earlier program left) is replaced, and
the program it was running is run once more on the new one: a program fails for what it does
itself, never for what another program did. While judging, this process is not dumpable, so that
a program run as the same user cannot reach its pipes or memory through /proc.
"""
import json
import os
import select
import signal
import sys

from sandbox.cleanup import remove_tree
from sandbox.common import (ENV, JUDGE_BUSY, PR_GET_DUMPABLE, PR_SET_DUMPABLE, SANDBOX_UID, WORKER_DIED, prctl,
                            short)

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
MAX_TIMEOUT, MIN_MEMORY_MB, MAX_WORKERS = 600, 64, 64   # seconds; under 64 MB no interpreter starts
STARTUP = 120              # seconds a new worker may take (its zygote first removes what a killed one left)
MAX_INTERNAL_ERRORS = 3     # more than this many jobs that break the sandbox itself: stop, it is our bug
_told = []                  # the one-line notice about running unprivileged, once per process


def check_platform():
    """The sandbox needs Linux >= 5.3 (memfd, pidfd, prctl): a one-line error elsewhere, before
    any work. WSL 2 is Linux; macOS and Windows are not (docs/evaluator.md says why)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open") or not hasattr(os, "memfd_create"):
        raise SystemExit(f"error: judging programs needs Linux >= 5.3 (or WSL 2), not {sys.platform}: "
                         "the sandbox relies on memfd, pidfd and prctl (docs/evaluator.md)")


def ram_mb():
    """This machine's memory: a memory cap above it would be no cap at all."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20


def check_limits(timeout, memory_mb, workers):
    """ValueError unless the limits are finite and in range: a cap that is off, or one no
    program can live under, would judge every program wrongly without a word."""
    if not (isinstance(timeout, (int, float)) and 0 < timeout <= MAX_TIMEOUT):
        raise ValueError(f"the time limit must be a number of seconds in (0, {MAX_TIMEOUT}], got {timeout!r}")
    if not (isinstance(memory_mb, int) and MIN_MEMORY_MB <= memory_mb <= ram_mb()):
        raise ValueError(f"the memory limit must be whole MB in [{MIN_MEMORY_MB}, {ram_mb()}] (this machine's RAM), "
                         f"got {memory_mb!r}")
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= MAX_WORKERS):
        raise ValueError(f"workers must be in [1, {MAX_WORKERS}], got {workers!r}")


def as_root():
    """Whether programs get uids of their own (a test can pretend we are not root)."""
    return os.geteuid() == 0


class Sandbox:
    """The parent's end of one worker: start it, hand it jobs, replace it when it died."""

    def __init__(self, cfg):
        self.cfg, self.proc, self.stopped = cfg, None, False

    def run(self, job):
        """The job's result. A worker that died, or failed in itself, is replaced and the job run
        once more: only a program that kills a fresh worker too gets "worker died"."""
        for attempt in (1, 2):
            if self.stopped:                           # the evaluation is being stopped: no new worker
                return {"status": "runtime error", "detail": "the evaluation was stopped"}
            if self.proc is None:
                try:
                    self.start()
                except RuntimeError:
                    if attempt == 1:                   # a worker that cannot start is our problem...
                        raise
                    res = {"status": "runtime error", "detail": WORKER_DIED}   # ...unless the job broke the last one
                    break
            res = self._ask(job, self.cfg["timeout"] + 30)
            if res is None and self._stopped_by_its_zygote():   # the program's own doing: no second run
                res = {"status": "runtime error", "detail": JUDGE_BUSY, "restart": True, "final": True}
            elif res is None:                          # it died (or hung)
                res = {"status": "runtime error", "detail": WORKER_DIED, "restart": True}
            restart, final = res.pop("restart", False), res.pop("final", False)
            if restart:
                self.close()
            if not restart or final:
                break
        res["detail"] = short(res.get("detail", ""))
        return res

    def _stopped_by_its_zygote(self):
        """Whether the zygote stopped this worker's judge, busy past the time limit with what the
        program returned (it says so on the worker's channel, which no program can reach, before
        it kills the judge)."""
        return self.zygote_said == JUDGE_BUSY

    def start(self):
        """A new worker. Its channel is a socket pair, not pipes: /proc/<pid>/fd/N of a socket cannot
        be opened, so no program finds a way into it there, not even while the worker starts."""
        import socket
        import subprocess
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-S", WORKER, "--worker"], stdin=theirs,
                                         stdout=theirs, env=ENV, cwd=self.cfg["dir"])
        finally:
            theirs.close()
        self.sock, self.lines, self.zygote_said = ours, ours.makefile("rb"), None
        if self._ask(self.cfg, STARTUP) != {"ready": True}:   # a worker that cannot start is our problem
            self.close()
            raise RuntimeError("the sandbox worker did not start (its error, if any, is above)")

    def _ask(self, message, timeout):
        """Send one line, read one line; None when the worker died or hung."""
        try:
            self.sock.sendall((json.dumps(message) + "\n").encode())
            poll = select.poll()
            poll.register(self.sock, select.POLLIN)
            if not poll.poll(timeout * 1000):
                return None
            reply = json.loads(self.lines.readline())
            if reply.get("zygote"):                   # the zygote's last word: the judge is being stopped
                self.zygote_said = reply["zygote"]
                return None
            return reply
        except (OSError, ValueError, AttributeError):
            return None

    def close(self):
        """EOF lets the worker and its zygote exit; kill them if they do not (programs die with them)."""
        proc, self.proc = self.proc, None              # (kill() may race a job's thread here)
        if proc is not None:
            import subprocess
            self.lines.close()
            self.sock.close()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill(self):
        """Now, whatever it is doing (Ctrl-C, SIGTERM): SIGTERM has its zygote kill the running
        program and all it left before the worker exits (close() kills a worker stuck past 2 s)."""
        self.stopped = True
        proc = self.proc
        if proc is not None:
            proc.terminate()
            self.close()


def sandbox_uids(count):
    """As root: `count` uids from SANDBOX_UID on that no account uses and no other evaluator runs
    programs as (each is held through an abstract socket named after it, freed when we exit), and
    those sockets. Else: None (run as us), and no sockets."""
    if not as_root():
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
    if not _can_become(uids[0]):
        for s in held:
            s.close()
        raise SystemExit("error: root here may not change uid (a container without CAP_SETUID?): the sandbox "
                         "cannot give programs a uid of their own; run the evaluator as a normal user")
    return uids, held


def _can_become(uid):
    """Whether a child of ours can switch to `uid` (root in some containers cannot)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os._exit(0)
        except BaseException:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def nproc_limit():
    """RLIMIT_NPROC counts all tasks of a uid: a sandbox uid has only its program's; as a normal
    user, allow what runs now plus a margin."""
    if as_root():
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


def run_all(jobs, workers=None, timeout=3.0, memory_mb=512, progress=True, each=None):
    """Run every job (dict key -> {solution, test, inputs}) in one worker per core.
    Returns key -> {status: ok | timeout | runtime error | ..., detail, outputs (stdin jobs)}, or
    key -> each(key, result) when `each` is given (what a result's outputs come to, as soon as it
    arrives: eight MB of output per program need not wait for the end). SIGTERM (when it would kill
    us, in the main thread) still cleans up first, as Ctrl-C does."""
    check_platform()
    check_limits(timeout, memory_mb, workers)
    results = {}
    if not jobs:
        return results
    if not as_root() and not _told:
        print("note: not running as root, so the judged programs run as you: they can read and write your files "
              "(docs/evaluator.md)", file=sys.stderr)
        _told.append(True)
    import tempfile
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed
    from queue import Queue
    from tqdm import tqdm
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    catch = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    late, terminated, base, held, pool, free, internal, boxes, done = [], False, None, [], None, Queue(), [], [], False
    dumpable = prctl(PR_GET_DUMPABLE)
    try:
        if catch:
            signal.signal(signal.SIGTERM, _on_sigterm)
        prctl(PR_SET_DUMPABLE, 0)
        base = tempfile.mkdtemp(prefix="ssd-eval-")
        os.chmod(base, 0o711)                          # the programs' uids may enter, not list
        uids, held = sandbox_uids(workers)
        nproc = nproc_limit()
        boxes = [Sandbox({"dir": base, "name": f"w{i}", "uid": uid, "timeout": timeout, "memory": memory_mb << 20,
                          "nproc": nproc}) for i, uid in enumerate(uids)]
        for box in boxes:
            free.put(box)

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
            if res["status"] == "internal error":      # twice, on two workers: the program fails, and we say so
                internal.append(res["detail"])
                if len(internal) > MAX_INTERNAL_ERRORS:
                    raise RuntimeError(f"the sandbox failed on {len(internal)} programs: {internal[-1]}")
                res = {"status": "runtime error", "detail": short(f"sandbox internal error: {res['detail']}")}
            results[key] = res if each is None else each(key, res)
        done = True
    except _Terminated:
        terminated = True
    finally:
        if catch:                                      # a SIGTERM now waits for the cleanup
            signal.signal(signal.SIGTERM, lambda signum, frame: late.append(signum))
        for box in boxes if not done else []:          # Ctrl-C, SIGTERM, an error: stop the programs now
            box.kill()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        for box in boxes:
            box.close()
        for s in held:
            s.close()
        if base is not None:
            remove_tree(base)
        if dumpable > 0:
            prctl(PR_SET_DUMPABLE, dumpable)
        if catch:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if internal:
        print(f"warning: the sandbox itself failed on {len(internal)} program(s), judged as runtime errors: "
              f"{internal[0]}", file=sys.stderr)
    if terminated or late:
        os.kill(os.getpid(), signal.SIGTERM)
    return results
