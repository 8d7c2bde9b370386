"""How every script shows its results: markdown tables, text line charts, and a gain with its
95 % interval. One home, so that evaluate.py, the report, forks.py and the lab's scripts print
alike and import no script for it.

    from tables import markdown_table, line_chart, interval
    print(markdown_table(["T", "pass@1"], [[0.7, 0.465]]))
    print(interval(0.054, 0.038, 0.071, unit=" pp"))      # +5.4 pp (95 % CI +3.8 .. +7.1)
"""


def markdown_table(header, rows):
    """A markdown table from a header and rows of cells: the one table format of the project."""
    line = lambda cells: "| " + " | ".join(map(str, cells)) + " |"
    return "\n".join([line(header), "|" + "---|" * len(header)] + [line(r) for r in rows])


def line_chart(series, height=10, width=44, marks="ox+*", xlabel="T_eval", ylabel="pass@1", join=True):
    """A text line chart, as lines: series {name: [(x, y)]} (by default pass@1 against the
    evaluation temperature); each series has its marker at its points and, with join, dots
    between them (# where two meet). The x ticks are the first series' x values, those with room."""
    pts = [p for ps in series.values() for p in ps]
    x0, x1 = min(x for x, _ in pts), max(x for x, _ in pts)
    y0, y1 = min(y for _, y in pts), max(y for _, y in pts)
    col = lambda x: round((x - x0) / ((x1 - x0) or 1) * (width - 1))
    row = lambda y: round((y1 - y) / ((y1 - y0) or 1) * (height - 1))
    grid = [[" "] * width for _ in range(height)]
    for mark, ps in zip(marks, series.values()):
        for (xa, ya), (xb, yb) in zip(ps, ps[1:]) if join else ():   # dots along each segment first...
            for c in range(col(xa) + 1, col(xb)):
                r = row(ya + (yb - ya) * (c - col(xa)) / (col(xb) - col(xa)))
                grid[r][c] = "." if grid[r][c] == " " else grid[r][c]
        for x, y in ps:                                  # ...then the points on top
            r, c = row(y), col(x)
            grid[r][c] = mark if grid[r][c] in " ." else "#"
    label = lambda r: f"{y1 - r * (y1 - y0) / ((height - 1) or 1):.2f}" if r in (0, height - 1) else ""
    lines = [f"{label(r):>6} |{''.join(g).rstrip()}" for r, g in enumerate(grid)]
    ticks, free = [" "] * (width + 6), 0   # free: the first column a new tick may use
    for x in sorted({x for x, _ in next(iter(series.values()))}):
        if col(x) >= free:                    # a tick that would touch the one before is left out
            text = f"{x:g}"[:width + 6 - col(x)]
            ticks[col(x):col(x) + len(text)] = text
            free = col(x) + len(text) + 1
    lines += ["       +" + "-" * width, "        " + "".join(ticks).rstrip() + f"   {xlabel}",
              "        " + "   ".join(f"{m} {name}" for m, name in zip(marks, series)) + f"   ({ylabel})"]
    return lines


def interval(gain, low, high, unit="", label="95 % CI "):
    """A gain and its interval, given as fractions, in percentage points: '+5.4 pp (95 % CI +3.8 .. +7.1)'
    (label="" gives '+5.4 (+3.8 .. +7.1)', the lab's tables)."""
    return f"{100 * gain:+.1f}{unit} ({label}{100 * low:+.1f} .. {100 * high:+.1f})"
