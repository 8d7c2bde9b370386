"""The benchmark files, the tokenizer, and what every script shares at its edges: the one JSONL
reader, the one check of a number option (number), the one check of a file a script will write
(unwritable) and the one way a command ends on Ctrl-C or a closed pipe (run_main)."""
import argparse
import gzip
import json
import math
import os
import sys
import tempfile

DATA_DIR = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path, required=(), with_lines=False):
    """Rows of a JSONL (or .jsonl.gz) file. A bad line, or a row without one of the `required`
    text fields, is a one-line error naming file:line. with_lines: (line number, row) pairs."""
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")) as f:
            lines = list(f)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise SystemExit(f"error: cannot read {path}: {getattr(e, 'strerror', None) or e}")
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"error: {path}:{n}: not valid JSON ({e.msg})")
        except ValueError as e:         # valid JSON that Python refuses: an integer of over 4,300 digits
            raise SystemExit(f"error: {path}:{n}: not usable JSON ({str(e).split(':')[0]})")
        except RecursionError:          # valid JSON nested deeper than Python's recursion limit
            raise SystemExit(f"error: {path}:{n}: not usable JSON (nested too deeply)")
        if not isinstance(row, dict):
            raise SystemExit(f"error: {path}:{n}: expected a JSON object")
        missing = [k for k in required if not isinstance(row.get(k), str)]
        if missing:
            raise SystemExit(f"error: {path}:{n}: missing text field {missing[0]!r}")
        rows.append((n, row) if with_lines else row)
    return rows


def unwritable(path):
    """Why a script could not write the file `path` (checked before any work), or None. The
    folder is tried for real, by creating and removing a file in it: os.access answers for the
    permission bits only, and as root it says yes to a read-only mount or a chattr +i folder."""
    if os.path.isdir(path):
        return "is a directory"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return "its folder does not exist"
    try:
        tempfile.NamedTemporaryFile(dir=folder).close()   # made, then removed
        if os.path.exists(path):
            open(path, "a").close()     # append mode: the file is not changed
    except OSError as e:
        return f"cannot write there ({e.strerror or e})"
    return None


def number(kind, low, strict=True, high=None):
    """An argparse type: a finite `kind` number above `low` (or at least `low`, strict=False) and
    at most `high`; anything else is a one-line error. nan and inf are refused by name: nan
    compares False with every bound, so a check written as `x < low` would let it through."""
    def parse(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {shown!r}")
        if kind is float and not math.isfinite(x):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {shown}")
        if x < low or (strict and x == low):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {low}, got {shown}")
        if high is not None and x > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {shown}")
        return x
    return parse


def number_list(kind, low, strict=True, high=None):
    """An argparse type: comma-separated numbers, each checked as number() checks one."""
    one = number(kind, low, strict, high)

    def parse(text):
        try:
            return [one(t) for t in text.split(",")]
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"comma-separated numbers expected, got {text!r}: {e}")
    return parse


def run_main(main):
    """Run a script's main() as a command. Ctrl-C ends it with one line, "interrupted", and exit
    code 130 (what a shell reports for SIGINT). A reader that stops early (`| head -1`) ends it
    quietly with 141 (SIGPIPE's): stdout is pointed at /dev/null, so that Python's own last flush
    at exit does not raise the same BrokenPipeError again."""
    try:
        main()
        sys.stdout.flush()              # a closed pipe shows itself here, while we can still catch it
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
