"""The benchmark files, the tokenizer, and one JSONL reader shared by every script."""
import json
import os

DATA_DIR = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path, required=()):
    """Rows of a JSONL file; a bad line or a missing field is a one-line error naming file:line."""
    rows = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise SystemExit(f"error: cannot read {path}: {e.strerror}")
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"error: {path}:{n}: not valid JSON ({e.msg})")
            if not isinstance(row, dict):
                raise SystemExit(f"error: {path}:{n}: expected a JSON object")
            missing = [k for k in required if k not in row]
            if missing:
                raise SystemExit(f"error: {path}:{n}: missing field {missing[0]!r}")
            rows.append(row)
    return rows
