"""What every part of the sandbox shares: its limits, its fd numbers, and three Linux calls.

Loaded in the worker before the zygote forks, so it stays small: standard modules only, and the
ones a program's process would load anyway.
"""
import os
import select

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}   # the worker's whole environment
SANDBOX_UID = 64000         # as root, worker i runs its programs as the i-th free uid from here
OUTPUT_CAP = 8 << 20        # bytes per file a program writes (stdout, stderr, any other), and per reply
DETAIL_CAP = 500            # characters of a verdict's detail: what a program prints cannot grow a results file
OPEN_FILES = 64             # per process: memfds and pipes hold memory that the address-space cap misses
JUDGE_MEMORY = 1 << 30      # address space of the judge: one huge reply fails its program, not the run
JUDGE_GRACE = 3             # seconds past the time limit after which the zygote kills a stuck judge
PATH_FD, CALLS_FD = 900, 1000   # program's fds: sys.path dirs from 900; requests in at 1000, replies out at 1001
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")   # world-writable: programs can leave files
PR_SET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 3, 4
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
WORKER_DIED = "the sandbox worker died while running this program"
JUDGE_BUSY = f"the test was still busy with what the program returned {JUDGE_GRACE} s past the time limit"

_libc = None


def libc():
    """The C library through ctypes, or None where there is none to load."""
    global _libc
    if _libc is None:
        try:
            import ctypes
            _libc = ctypes.CDLL(None, use_errno=True)
        except (ImportError, OSError):
            _libc = False
    return _libc or None


def prctl(option, value=0):
    """prctl(2); -1 where it failed or there is no C library."""
    c = libc()
    return -1 if c is None else c.prctl(option, value, 0, 0, 0)


def short(text, cap=DETAIL_CAP):
    """A detail no longer than `cap` characters (what was cut is said at its end)."""
    text = str(text)
    if len(text) <= cap:
        return text
    tail = f" ... ({len(text):,} chars)"
    return text[:cap - len(tail)] + tail


def write_all(fd, data):
    data = memoryview(data)
    while data:
        data = data[os.write(fd, data):]


def readable(fd, seconds):
    """Wait until `fd` can be read (or has hung up); False after `seconds`."""
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(seconds * 1000))
