"""study.py's pooling over benchmark draws, base seeds and SSD seeds, on hand-made numbers."""
import pytest

import study


def report(g, replicates):
    return {"bootstrap": {"best_vs_best": {"all": {"gain": g}}, "replicates": {"all": replicates}}}


def test_the_spread_splits_into_ssd_seed_base_seed_and_draw_parts():
    # draw A: base 0 -> SSD seeds give 1, 3; base 1 -> 5, 7. Draw B: 2, 4 and 6, 8.
    # SSD part: variance within each base = 2 everywhere. Base part: base means (2, 6) and (3, 7)
    # have variance 8, less 2 / 2 from the SSD seeds = 7. Draw part: draw means 4 and 5 have variance
    # 0.5, less 7 / 2 and 2 / 4: below 0, so 0.
    gains = {("A", 0, 0): 1, ("A", 0, 1): 3, ("A", 1, 0): 5, ("A", 1, 1): 7,
             ("B", 0, 0): 2, ("B", 0, 1): 4, ("B", 1, 0): 6, ("B", 1, 1): 8}
    split = study.variance_split(gains)
    assert split["ssd"] == pytest.approx(2 ** 0.5) and split["base"] == pytest.approx(7 ** 0.5)
    assert split["draw"] == 0.0


def test_a_level_with_one_member_has_no_spread_to_report():
    split = study.variance_split({("test", 0, None): 0.05, ("test", 1, None): 0.07})
    assert split["ssd"] is None and split["draw"] is None
    assert split["base"] == pytest.approx(0.02 / 2 ** 0.5)   # sd of (0.05, 0.07)


def test_runs_that_all_agree_pool_to_a_point():
    reports = {(d, s, x): report(0.04, [0.04] * 10) for d in (31, 32) for s in (0, 1) for x in (0, 1)}
    assert study.pooled(reports) == pytest.approx((0.04, 0.04, 0.04))


def test_one_run_pools_to_its_own_problem_bootstrap():
    mean, low, high = study.pooled({(31, 0, 0): report(0.5, [0.0, 1.0])})
    assert (mean, low, high) == (0.5, 0.0, 1.0)


def test_the_committed_test_split_and_the_development_seed_are_not_fresh_draws():
    for bad in ("7", "1234"):
        with pytest.raises(SystemExit):
            study.main([f"--data_seeds={bad}", "--summarize"])


def test_the_summary_pools_every_run_and_compares_recipes_on_the_same_runs(tmp_path):
    import json
    for d in (31, 32):
        for s in (0, 1):
            for run, g in (("ssd", 0.06), ("paper", 0.04)):
                for x in (0, 1):
                    r = report(g, [g] * 10)
                    r["bootstrap"]["best_vs_best"]["all"].update(low=g, high=g)
                    r["bootstrap"]["hard_minus_easy"] = {"gain": 0.01}
                    r["bootstrap"]["replicates"]["hard_minus_easy"] = [0.01] * 10
                    r["sweeps"] = {m: [{"temperature": 0.7, "pass@1": p, "per_problem": {"t/0": {}}}]
                                   for m, p in (("base", 0.4), ("SSD", 0.4 + g))}
                    r["ssd_data"] = {"share_no_valid_code": 0.0}
                    folder = tmp_path / f"draw{d}" / f"seed{s}"
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / f"{run}_s{x}_report.json").write_text(json.dumps(r))
    study.main([f"--out={tmp_path}", "--data_seeds=31,32", "--seeds=0,1", "--ssd_seeds=0,1", "--summarize"])
    text = (tmp_path / "study.md").read_text()
    assert "| ssd | 8 | +6.0 (+6.0 .. +6.0) | +6.0 / +6.0 | +1.0 (+1.0 .. +1.0) |" in text
    assert "| ssd - paper | 8 | +2.0 (+2.0 .. +2.0) |" in text


def test_a_pooled_difference_is_the_same_in_every_python_process():
    # the runs' keys hold strings, whose hashes change from process to process: the order of the
    # runs (and so which run each bootstrap draw picks) must not come from a set
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import numpy as np, study\n"
            "r = lambda g, s: {'bootstrap': {'best_vs_best': {'all': {'gain': g}},"
            " 'replicates': {'all': list(np.random.default_rng(s).normal(g, 0.02, 200))}}}\n"
            "a = {('d', b, x): r(0.1 * b + 0.01 * x, 3 * b + x) for b in range(3) for x in range(2)}\n"
            "c = {k: r(0.05, 7 + 3 * k[1] + k[2]) for k in a}\n"
            "print(study.pooled_difference(a, c))\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}, cwd=os.path.join(root, "lab")).stdout for h in (1, 2, 3)}
    assert len(outs) == 1
