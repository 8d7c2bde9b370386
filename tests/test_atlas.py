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
    # the range 0.1 .. 0.3 spans the 8 shades " .:ox%#@": 0.1 -> shade 0 " ", 0.3 -> shade 7 "@",
    # 0.25 -> 0.75 x 7 = 5.25 -> shade 5 "%"; a missing cell is "-"
    assert lines[2].split() == ["a", "0.100", "@0.300*"]
    assert lines[3].split() == ["b", "%0.250", "-"]


def test_without_truncation_the_toy_depends_only_on_t_train_times_t_eval():
    g = atlas.toy_grid("none")
    # the student's logits are log p / T_train, decoded at T_eval: log p / (T_train x T_eval)
    assert g[(0.6, 1.0)] == pytest.approx(g[(1.0, 0.6)])
    assert g[(0.8, 1.0)] == pytest.approx(g[(1.0, 0.8)]) and g[(1.2, 1.0)] == pytest.approx(g[(1.0, 1.2)])
    assert g[(2.0, 0.4)] == pytest.approx(g[(1.0, 0.8)]) and g[(1.6, 1.0)] == pytest.approx(g[(2.0, 0.8)])


def test_the_grid_summary_draws_both_heatmaps_the_fit_and_the_best_cell(tmp_path):
    import json
    base = [{"temperature": t, "pass@1": 0.3} for t in atlas.T_EVAL]
    (tmp_path / "grid").mkdir()
    for trunc in atlas.TRUNCATION:
        for tt in atlas.T_TRAIN:
            ssd = [{"temperature": t, "pass@1": 0.5 - (tt * t - 1.2) ** 2 / 4} for t in atlas.T_EVAL]
            report = {"sweeps": {"base": base, "SSD": ssd},
                      "bootstrap": {"best_vs_best": {"all": {"gain": 0.2, "low": 0.18, "high": 0.22}}}}
            (tmp_path / "grid" / f"grid_T{tt:g}_{trunc}_report.json").write_text(json.dumps(report))
    text = "\n".join(atlas.summarize_grid(str(tmp_path)))
    assert "R² 1.00, peak at T_eff 1.20" in text   # the cells are an exact parabola in T_eff
    assert text.count("best cell") == 2 and "+20.0 pp (+18.0 .. +22.0)" in text
    assert "by T_train: 0.6: +20.0 (+18.0 .. +22.0); 0.8:" in text
    # cells above the base's 0.3: 0.5 - (T_eff - 1.2)² / 4 > 0.3 where |T_eff - 1.2| < 0.894
    above = sum(abs(tt * te - 1.2) < 0.8 ** 0.5 for tt in atlas.T_TRAIN for te in atlas.T_EVAL)
    assert text.count(f"cells above the base's best pass@1 (0.300): {above} of 48") == 2


def test_each_open_question_is_pooled_over_bases_and_compared_with_the_one_sample_recipe(tmp_path):
    import json
    for s in (0, 1):
        (tmp_path / f"seed{s}").mkdir()
        for run, g in (("ssd_s0", 0.06), ("epochs2", 0.07), ("epochs4", 0.03)):
            r = {"bootstrap": {"best_vs_best": {"all": {"gain": g}}, "replicates": {"all": [g] * 10},
                               "at_temperature": [{"temperature": 0.7, "gain": g / 2}]}}
            (tmp_path / f"seed{s}" / f"{run}_report.json").write_text(json.dumps(r))
    text = "\n".join(atlas.summarize_questions(str(tmp_path), ["epochs"], [0, 1]))
    assert "| ssd (reference) | 2 | +6.0 (+6.0 .. +6.0) | - | +6.0 / +6.0 | +3.0 / +3.0 |" in text
    assert "| epochs2 | 2 | +7.0 (+7.0 .. +7.0) | +1.0 (+1.0 .. +1.0) | +7.0 / +7.0 | +3.5 / +3.5 |" in text
    assert "| epochs4 | 2 | +3.0 (+3.0 .. +3.0) | -3.0 (-3.0 .. -3.0) | +3.0 / +3.0 | +1.5 / +1.5 |" in text


def test_the_questions_pretrain_a_missing_base_once_and_skip_runs_already_reported(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(atlas, "train", calls.append)
    (tmp_path / "seed1").mkdir()
    (tmp_path / "seed1" / "ssd_s0_report.json").write_text("{}")   # base 1 and its reference exist
    (tmp_path / "seed1" / "epochs2_report.json").write_text("{}")
    atlas.run_questions(str(tmp_path), ["epochs"], [0, 1], ["--data_dir=D", "--ssd_prompts=2000"])
    runs = [[a for a in c if a.startswith(("--run=", "--out_dir=", "--stage="))] for c in calls]
    home0, home1 = tmp_path / "seed0", tmp_path / "seed1"
    assert runs == [[f"--out_dir={home0}", "--run=ssd_s0"],   # no --stage: pretrain, then the reference
                    *[[f"--out_dir={home0}", "--stage=ssd", f"--run=epochs{e}"] for e in (2, 4, 8)],
                    *[[f"--out_dir={home1}", "--stage=ssd", f"--run=epochs{e}"] for e in (4, 8)]]
    assert calls[1][-3:] == ["--data_dir=D", "--ssd_prompts=2000", "--ssd_epochs=2"]   # the question's flag last wins


def test_the_atlas_refuses_the_test_splits_generator(capsys):
    with pytest.raises(SystemExit):
        atlas.main(["--grid", "--data_seed=1234"])
    assert "test split" in capsys.readouterr().err


def test_cells_with_equal_t_eff_are_compared_pair_by_pair():
    cells = {(1.0, 1.0): 0.5, (2.0, 0.5): 0.3, (0.5, 2.0): 0.4, (1.0, 2.0): 0.1}
    # T_eff 1: 0.5, 0.3, 0.4 -> |differences| 0.2, 0.1, 0.1; T_eff 2 has one cell; all 6 pairs sum to 1.3
    n, same, every = atlas.same_t_eff(cells)
    assert n == 3 and same == pytest.approx(0.4 / 3) and every == pytest.approx(1.3 / 6)


def test_the_noise_floor_is_the_expected_absolute_value_of_a_paired_difference():
    import numpy as np
    per_problem = {(1.0, 1.0): np.array([1, 0, 1, 0.]), (2.0, 0.5): np.array([0, 0, 1, 1.])}
    # differences 1, 0, 0, -1: sd (ddof 1) sqrt(2/3), standard error sqrt(2/3) / 2; times sqrt(2/pi)
    expected = (2 / 3) ** 0.5 / 2 * (2 / np.pi) ** 0.5
    assert atlas.noise_floor(per_problem, per_problem) == pytest.approx(expected)


def test_a_later_ssd_seed_suffixes_its_runs_and_chains_its_own_rounds():
    assert atlas.named("round2", ["--ssd_from=ssd_s0"], 0) == ("round2", ["--ssd_from=ssd_s0"])
    assert atlas.named("round2", ["--ssd_from=ssd_s0"], 1) == ("round2_s1", ["--ssd_from=ssd_s1"])
    assert atlas.named("round3", ["--ssd_from=round2"], 1) == ("round3_s1", ["--ssd_from=round2_s1"])
    assert atlas.named("n2", ["--ssd_n=2"], 2) == ("n2_s2", ["--ssd_n=2"])
