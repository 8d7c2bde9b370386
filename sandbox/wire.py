"""Plain data on the wire between the judge and the program's process, one JSON line each way.

A call problem's test runs in the judge; the program's functions are stand-ins there. Their
arguments and return values cross as plain data: None, bool, int, float, str and lists as
themselves, the rest as {type: contents} (tuples, dicts, sets, bytes, complex, huge ints). A
subclass of a plain type crosses as that type; anything else as a NotPlainData, a stand-in that
equals only itself and is as true or false as the program's value was.
"""


class NotPlainData:
    """What the judge gets for a return value that is not plain data: equal only to itself, and
    true or false as the program's value was (`assert candidate()` sees what plain exec sees)."""

    def __init__(self, what, truth=True):
        self.what, self.truth = what, truth

    def __repr__(self):
        return f"<{self.what}, not plain data>"

    def __bool__(self):
        if self.truth is None:
            raise TypeError(f"the truth of {self.what} could not be told")
        return self.truth


def pack(value, limit=1_000_000):
    """Plain data as JSON: None, bool, int, float, str and lists as themselves, the rest as
    {type: contents}; a subclass of a plain type as that type. TypeError for anything else, for
    more than `limit` items, or for data nested more than 100 deep."""
    return _pack_one(value, [limit], 0)


def not_plain(value, refusal):
    """The packed stand-in for a value that pack() refused (its TypeError): what it is, and its
    truth, told by the program's own __bool__ in the program's own process."""
    try:
        truth = bool(value)
    except BaseException:
        truth = None
    return {"?": [str(refusal).split(" is not")[0][:120], truth]}


_SETS = (set, frozenset, type({}.keys()), type({}.items()))   # dict views compare like sets
_BIG = 1 << 12000           # ints from here on go in hex: Python's JSON stops at 4300 digits
_TOO_BIG = "data too large or too deeply nested to compare"


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
    raise TypeError(f"a {type(v).__name__[:100]} is not plain data")


def unpack(data, limit=1_000_000, hashed=10_000):
    """The value that pack() packed; a NotPlainData for what the program's process could not pack,
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
        what, truth = x if isinstance(x, list) and len(x) == 2 else (x, True)
        return NotPlainData(str(what)[:120], truth if truth in (True, False) else None)
    raise ValueError(f"not packed data: {kind!r}")
