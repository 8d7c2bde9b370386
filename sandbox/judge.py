"""The judge: have the zygote start a program's process, then judge what that process does.

A call problem's test (HumanEval's `check(candidate)`) runs here, in the judge, with the program's
functions as stand-ins that send each call to the program's process and bring the value back as
plain data (wire.py); a stdin problem's outputs go back to evaluate.py, which compares them. So the
program never holds the test, and nothing its process says is believed without a check: a reply
that is not a reply, a crash or a timeout only fails it. Every detail is cut at DETAIL_CAP.
"""
import builtins
import json
import os
import re
import select
import signal
import sys
import time
import types

from sandbox.common import OUTPUT_CAP, short
from sandbox.wire import NotPlainData, pack, unpack


class ZygoteGone(Exception):
    """The zygote died (a program run as us can kill it): the worker must be restarted."""


def judge(job, cfg, link):
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
        self.sent_ahead = [{"call": name, "args": pack(tuple(args)), "kwargs": pack({})} for args in calls]
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
            self.fail("memory limit" if reply["error"] == "memory limit" else "runtime error", short(reply.get("detail")))
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
        how = f"killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
        last = ([line.strip() for line in self.stderr.splitlines() if line.strip()] or [""])[-1]
        return "runtime error", f"{how} before the tests finished" + (f": {last[:300]}" if last else "")

    def function(self, name):
        """A stand-in for the program's function `name`: plain data in, plain data back."""
        def call(*args, **kwargs):
            request = {"call": name, "args": pack(args), "kwargs": pack(kwargs)}
            if not self.sent_ahead:
                value = self.ask(request)["value"]
            elif self.sent_ahead.pop(0) == request:    # already on its way: only the reply is read
                value = self.ask()["value"]
            else:                                      # cannot happen for the tests that send ahead
                self.fail("internal error", "a test made another call than the one sent ahead")
                raise _Failed(*self.failure)
            try:
                value = unpack(value)
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
        self.calls = literal_calls(text) if self.entry else None

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
                    namespace[name] = unpack(value) if kind == "data" else NotPlainData(f"a {value}")
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


def literal_calls(text):
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
            pack(tuple(args))                         # plain data, or no sending ahead
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
            return "wrong answer", short(test.splitlines()[tb.tb_lineno - 1].strip() + (f" ({e})" if str(e) else ""))
        return "runtime error", short(f"{type(e).__name__}: {e}")
    except Exception:
        return "runtime error", "an exception that cannot be described"


def _run_cases(prog, cases):
    """A stdin problem: the outputs, cut at the case ends that the program's process reported."""
    try:
        ends = prog.ask()["ends"]
    except _Failed:
        return {"status": prog.failure[0], "detail": prog.failure[1]}
    except Exception:                                  # a reply that is not {"ends": [...]}
        ends = None
    if not (isinstance(ends, list) and len(ends) == cases and all(type(e) is int for e in ends)
            and ends == sorted(ends) and all(0 <= e <= len(prog.stdout) for e in ends)):
        return {"status": "runtime error", "detail": "garbled harness report"}
    return {"status": "ok", "outputs": [prog.stdout[a:b].decode("utf-8", "replace") for a, b in zip([0] + ends, ends)]}


def _signal_name(number):
    """SIGSEGV for 11; real-time signals (34 and up) have no name of their own."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
