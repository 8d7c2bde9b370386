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
    assert ("| H1 a third round beats one: > 0 | 2 | +2.0 (+2.0 .. +2.0) | +5.0 (+5.0 .. +5.0) | confirmed | confirmed |"
            in text)
    assert ("| H5 an online teacher does worse than a frozen one: < 0 | 2 | -10.0 (-10.0 .. -10.0) | -2.0 (-2.0 .. -2.0) "
            "| confirmed | confirmed |" in text)
    assert "| H2 two samples per prompt beat one, same prompts: > 0 | 2 | +1.0 (+1.0 .. +1.0) | +0.0 (+0.0 .. +0.0) |" in text
    assert "| H6 hard gain - easy gain, reference: > 0 | 2 | - | -1.0 (-1.0 .. -1.0) | refuted | - |" in text
    # every run in one row: the reference's gain, then each variant's difference (at T 0.7 / best vs best)
    assert "| 62 | 0 | 0 | +6.0 / +8.0 | +2.0 / +5.0 | +1.0 / +0.0 | +0.0 / +1.0 | +3.0 / +4.0 | -10.0 / -2.0 |" in text
    assert text in capsys.readouterr().out


def test_the_decision_rule_reads_the_interval_against_the_predicted_sign():
    # in pass@1 fractions: 0.01 is the rule's 1 pp
    assert confirm.verdict(0.005, 0.04, +1) == "confirmed"
    assert confirm.verdict(-0.04, -0.005, -1) == "confirmed"       # H5 predicts a loss
    assert confirm.verdict(-0.04, -0.005, +1) == "refuted"         # wholly on the other side
    assert confirm.verdict(0.005, 0.04, -1) == "refuted"
    assert confirm.verdict(-0.008, 0.009, +1) == "refuted"         # straddles 0 but within +-1 pp: no effect worth the name
    assert confirm.verdict(-0.02, 0.03, +1) == "left open"
    assert confirm.verdict(-0.011, 0.009, -1) == "left open"       # reaches past -1 pp: not ruled out
    assert confirm.verdict(0.002, 0.008, +1) == "confirmed, but under 1 pp"   # the rule's two branches at once


def test_spread_of_each_difference_is_split_by_level(tmp_path):
    # H1's difference is +2 pp on draw 61 and +4 pp on draw 62, identical within a draw: all its spread is the draw's
    for draw, delta in ((61, 0.02), (62, 0.04)):
        for seed in (0, 1):
            home = tmp_path / f"draw{draw}" / f"seed{seed}"
            home.mkdir(parents=True)
            for x in (0, 1):
                ref = report(0.05, 0.05)
                (home / f"ssd_s{x}_report.json").write_text(json.dumps(ref))
                name = "round3" if x == 0 else "round3_s1"
                (home / f"{name}_report.json").write_text(json.dumps(report(0.05 + delta, 0.05)))
    confirm.summarize(str(tmp_path), [61, 62], [0, 1], [0, 1])
    text = (tmp_path / "confirm.md").read_text()
    # two draw means 2 and 4 pp: variance 2, nothing below it, SD sqrt(2) = 1.4
    assert "| round3 | 1.4 | 0.0 | 0.0 |" in text
    assert "| ssd (reference): gain | 0.0 | 0.0 | 0.0 |" in text
