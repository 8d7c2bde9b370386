"""lab/confirm.py: the pre-registered comparison of the atlas's variants with the reference, on
hand-made reports whose differences are known."""
import json

import confirm


def report(at_07, best, hard_minus_easy=0.0):
    """A run's report: gains given exactly, every bootstrap replicate equal to them (no noise)."""
    return {"bootstrap": {"best_vs_best": {"all": {"gain": best}}, "hard_minus_easy": {"gain": hard_minus_easy},
                          "at_temperature": [{"temperature": 0.7, "gain": at_07}],
                          "replicates": {"all": [best] * 50, "T0.7": [at_07] * 50, "hard_minus_easy": [hard_minus_easy] * 50}}}


def test_each_variant_is_compared_with_the_reference_of_the_same_run(tmp_path, capsys):
    deltas = {"round3": (0.02, 0.05), "n2": (0.01, 0.0), "n2_same_total": (0.0, 0.01), "prompts4000": (0.03, 0.04),
              "online": (-0.10, -0.02)}   # (at T 0.7, best vs best), in pass@1
    for draw in (61, 62):
        home = tmp_path / f"draw{draw}" / "seed0"
        home.mkdir(parents=True)
        ref = (0.05 + 0.01 * (draw - 61), 0.08)                     # the draws differ; the differences do not
        (home / "ssd_s0_report.json").write_text(json.dumps(report(*ref, hard_minus_easy=-0.01)))
        for run, (d07, dbest) in deltas.items():
            (home / f"{run}_report.json").write_text(json.dumps(report(ref[0] + d07, ref[1] + dbest)))
    confirm.summarize(str(tmp_path), [61, 62], [0], [0])
    text = (tmp_path / "confirm.md").read_text()
    assert "| a third round beats one: > 0 | 2 | +2.0 (+2.0 .. +2.0) | +5.0 (+5.0 .. +5.0) |" in text
    assert "| an online teacher does worse than a frozen one: < 0 | 2 | -10.0 (-10.0 .. -10.0) | -2.0 (-2.0 .. -2.0) |" in text
    assert "| hard gain - easy gain, reference | 2 | - | -1.0 (-1.0 .. -1.0) |" in text
    assert "| online | 62 | 0 | 0 | -10.0 | -2.0 |" in text
    assert text in capsys.readouterr().out
