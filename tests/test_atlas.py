"""atlas.py: the grid's heatmap, its T_eff fit, and the toy's grid."""
import pytest

import atlas


def test_a_parabola_fits_itself_with_its_peak():
    x = [0.4, 0.8, 1.2, 1.6, 2.0]
    y = [0.5 - (t - 1.2) ** 2 for t in x]
    (c2, c1, c0), r2, peak = atlas.quadratic_fit(x, y)
    assert (c2, c1, c0) == pytest.approx((-1.0, 2.4, -0.94)) and r2 == pytest.approx(1.0) and peak == pytest.approx(1.2)


def test_the_heatmap_shades_by_value_and_marks_the_best_cell():
    lines = atlas.heatmap("t", ["a", "b"], [0.5, 1.0], lambda r, c: {("a", 0.5): 0.1, ("a", 1.0): 0.3,
                                                                     ("b", 0.5): 0.25, ("b", 1.0): None}[(r, c)])
    # the range 0.1 .. 0.3 spans the 10 shades " .:-=+*#%@": 0.1 -> shade 0 " ", 0.3 -> shade 9 "@",
    # 0.25 -> 0.75 x 9 = 6.75 -> shade 7 "#"; a missing cell is "-"
    assert lines[2].split() == ["a", "0.100", "@0.300*"]
    assert lines[3].split() == ["b", "#0.250", "-"]


def test_without_truncation_the_toy_depends_only_on_t_train_times_t_eval():
    g = atlas.toy_grid("none")
    # the student's logits are log p / T_train, decoded at T_eval: log p / (T_train x T_eval)
    assert g[(0.6, 1.0)] == pytest.approx(g[(1.0, 0.6)])
    assert g[(0.8, 1.0)] == pytest.approx(g[(1.0, 0.8)]) and g[(1.2, 1.0)] == pytest.approx(g[(1.0, 1.2)])
    assert g[(2.0, 0.4)] == pytest.approx(g[(1.0, 0.8)]) and g[(1.6, 1.0)] == pytest.approx(g[(2.0, 0.8)])


def test_the_grid_summary_draws_both_heatmaps_the_fit_and_the_best_cell(tmp_path):
    import json
    base = [{"temperature": t, "pass@1": 0.3} for t in atlas.T_EVAL]
    for trunc in atlas.TRUNCATION:
        for tt in atlas.T_TRAIN:
            ssd = [{"temperature": t, "pass@1": 0.5 - (tt * t - 1.2) ** 2 / 4} for t in atlas.T_EVAL]
            report = {"sweeps": {"base": base, "SSD": ssd},
                      "bootstrap": {"best_vs_best": {"all": {"gain": 0.2, "low": 0.18, "high": 0.22}}}}
            (tmp_path / f"grid_T{tt:g}_{trunc}_report.json").write_text(json.dumps(report))
    text = "\n".join(atlas.summarize_grid(str(tmp_path)))
    assert "R² 1.00, peak at T_eff 1.20" in text   # the cells are an exact parabola in T_eff
    assert text.count("best cell") == 2 and "+20.0 pp (+18.0 .. +22.0)" in text


def test_each_open_question_is_pooled_over_bases_and_compared_with_the_one_sample_recipe(tmp_path):
    import json
    for s in (0, 1):
        (tmp_path / f"seed{s}").mkdir()
        for run, g in (("ssd_s0", 0.06), ("epochs2", 0.07), ("epochs4", 0.03)):
            r = {"bootstrap": {"best_vs_best": {"all": {"gain": g}}, "replicates": {"all": [g] * 10}}}
            (tmp_path / f"seed{s}" / f"{run}_report.json").write_text(json.dumps(r))
    text = "\n".join(atlas.summarize_questions(str(tmp_path), ["epochs"], [0, 1]))
    assert "| ssd_s0 | 2 | +6.0 (+6.0 .. +6.0) | - |" in text
    assert "| epochs2 | 2 | +7.0 (+7.0 .. +7.0) | +1.0 (+1.0 .. +1.0) |" in text
    assert "| epochs4 | 2 | +3.0 (+3.0 .. +3.0) | -3.0 (-3.0 .. -3.0) |" in text
