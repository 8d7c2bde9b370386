"""The paired bootstrap behind every base-vs-SSD interval, checked on cases small enough to
work out by hand: resampling 2 problems gives 3 distinct outcomes with chances 1/4, 1/2, 1/4."""
import pytest

from report import comparison_table, paired_bootstrap, pp
from tables import line_chart


def sweep(temps_to_passes, n=5):
    """A model's sweep from {T: [c per problem]} (n samples each); problems p0, p1, ..."""
    return [{"temperature": t, "pass@1": sum(cs) / (n * len(cs)),
             "per_problem": {f"p{i}": {"n": n, "c": c} for i, c in enumerate(cs)}}
            for t, cs in temps_to_passes.items()]


SAME = {"p0": "easy", "p1": "easy"}


def test_two_problems_one_temperature_give_the_hand_computed_interval():
    # gains per problem: 1 and 0. A resample draws (p0, p0): gain 1, chance 1/4; (p0, p1) in
    # either order: 0.5, chance 1/2; (p1, p1): 0, chance 1/4. So the 2.5 % point is 0, the 97.5 % point 1.
    ci = paired_bootstrap({"base": sweep({0.7: [0, 5]}), "SSD": sweep({0.7: [5, 5]})}, SAME, resamples=4000)
    assert ci["best_vs_best"]["all"] == {"gain": 0.5, "low": 0.0, "high": 1.0}
    assert ci["at_temperature"] == [{"temperature": 0.7, "gain": 0.5, "low": 0.0, "high": 1.0}]
    # the resampled gains are kept for pooling over runs, best vs best and at each T: each is 0, 0.5 or 1
    assert set(ci["replicates"]["all"]) == set(ci["replicates"]["T0.7"]) == {0.0, 0.5, 1.0}


def test_identical_models_gain_exactly_zero_in_every_resample():
    m = {0.4: [1, 3, 5], 1.0: [0, 4, 2]}
    ci = paired_bootstrap({"base": sweep(m), "SSD": sweep(m)}, {"p0": "easy", "p1": "easy", "p2": "hard"})
    for g in [*ci["best_vs_best"].values(), ci["hard_minus_easy"], *ci["at_temperature"]]:
        assert (g["gain"], g["low"], g["high"]) == (0.0, 0.0, 0.0)


def test_choosing_the_best_temperature_inside_each_resample_narrows_what_luck_can_add():
    # base: T 0.4 solves p1 only, T 1.0 p0 only; SSD solves both at both. On the data the base's
    # best is 0.5 and the gain 0.5. Resample (p0, p0): the base's best T is 1.0, pass 1, gain 0;
    # (p1, p1): T 0.4, gain 0; mixed: 0.5. At a fixed T = 0.4 the gain would range over 0 .. 1.
    ci = paired_bootstrap({"base": sweep({0.4: [0, 5], 1.0: [5, 0]}), "SSD": sweep({0.4: [5, 5], 1.0: [5, 5]})},
                          SAME, resamples=4000)
    assert ci["best_vs_best"]["all"] == {"gain": 0.5, "low": 0.0, "high": 0.5}
    assert ci["at_temperature"][0] == {"temperature": 0.4, "gain": 0.5, "low": 0.0, "high": 1.0}
    assert ci["best_T_share"]["base"]["0.4"] == pytest.approx(0.75, abs=0.03)   # (p1,p1) or a tie: 3/4


def test_problems_are_resampled_within_their_difficulty():
    # one easy and one hard problem: each third is redrawn from itself, so nothing varies
    ci = paired_bootstrap({"base": sweep({1.0: [0, 0]}), "SSD": sweep({1.0: [5, 0]})}, {"p0": "easy", "p1": "hard"})
    assert ci["best_vs_best"]["all"] == {"gain": 0.5, "low": 0.5, "high": 0.5}
    assert ci["best_vs_best"]["easy"]["gain"] == 1.0 and ci["best_vs_best"]["hard"]["gain"] == 0.0
    assert ci["hard_minus_easy"] == {"gain": -1.0, "low": -1.0, "high": -1.0}


def test_the_report_ends_with_the_gain_and_its_interval():
    sweeps = {"base": sweep({0.7: [0, 5]}), "SSD": sweep({0.7: [5, 5]})}
    for s in sweeps.values():
        s[0]["by_difficulty"] = {"easy": {"pass@1": s[0]["pass@1"]}}
    text = comparison_table(sweeps, ks=(1,), ci=paired_bootstrap(sweeps, SAME, resamples=4000))
    assert text.splitlines()[-1] == "best-vs-best pass@1: SSD 1.000 - base 0.500 = +50.0 pp (95 % CI +0.0 .. +100.0)"
    assert pp({"gain": 0.081, "low": 0.059, "high": 0.103}) == "+8.1 (95 % CI +5.9 .. +10.3)"


def test_the_temperature_chart_puts_each_point_where_its_numbers_say():
    # x: T 0 -> column 0, T 1 -> column 3 (width 4); y: 0.5 -> row 0, 0.1 -> row 4 (0.1 per row).
    # base's segment at columns 1, 2: y 0.233, 0.367 -> rows 2.67, 1.33 -> 3, 1; SSD's (to 0.3 at
    # row 2): y 0.167, 0.233 -> rows 3.33, 2.67 -> 3, 3. Both start at (0, 0.1): "#".
    lines = line_chart({"base": [(0.0, 0.1), (1.0, 0.5)], "SSD": [(0.0, 0.1), (1.0, 0.3)]}, height=5, width=4)
    assert lines[:5] == ["  0.50 |   o", "       |  .", "       |   x", "       | ..", "  0.10 |#"]
    assert lines[6].split() == ["0", "1", "T_eval"] and "o base" in lines[7] and "x SSD" in lines[7]


def test_an_x_tick_that_would_touch_the_one_before_is_left_out():
    # width 10: x 0 -> column 0, x 0.1 -> column 0.9 -> 1 (touches "0"), x 0.5 -> column 4.5 -> 4, x 1 -> column 9
    lines = line_chart({"cells": [(0.0, 0.1), (0.1, 0.2), (0.5, 0.3), (1.0, 0.4)]}, height=3, width=10, join=False)
    assert lines[4] == "        0   0.5  1   T_eval"


def test_a_reused_base_sweep_brings_its_verdicts_and_a_changed_test_is_not_reused(monkeypatch, tmp_path):
    import report
    seen = []   # (model, the verdicts it found already known)

    def fake_sweep(model, problems, temperatures, n, ks, known, **kw):
        seen.append((model, dict(known)))
        known[("p0", f"program of {model}")] = ("passed", "")
        known[("p0", f"slow program of {model}")] = ("timeout", "")   # may be the machine's fault: not kept
        known[None] = ("no code", "")
        return [{"temperature": t, "summary": {"pass@1": 1.0}, "results": []} for t in temperatures]

    monkeypatch.setattr(report.evaluate, "sweep", fake_sweep)
    problems = [{"task_id": "p0", "prompt": "def f():\n", "test": "assert f() == 1"}]
    cache = str(tmp_path / "base_sweep.json")
    run = lambda ssd, probs=problems: report.compare({"base": "base", "SSD": ssd}, probs, [0.7], 1, cache=cache, key="k")
    run("ssd1")
    assert [m for m, _ in seen] == ["base", "ssd1"]
    seen.clear()
    run("ssd2")   # the base's sweep comes from the cache, with the verdict of the program it wrote
    assert seen == [("ssd2", {("p0", "program of base"): ("passed", "")})]
    seen.clear()
    run("ssd3", [dict(problems[0], test="assert f() == 2")])   # same task_id, another test: not reused
    assert [m for m, _ in seen] == ["base", "ssd3"]
    seen.clear()
    monkeypatch.setattr(report, "JUDGE", "another judge")               # evaluate.py or sandbox.py changed
    run("ssd4", [dict(problems[0], test="assert f() == 2")])
    assert [m for m, _ in seen] == ["base", "ssd4"]
