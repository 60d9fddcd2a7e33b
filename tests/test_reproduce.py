"""`condense reproduce`: the list, one cheap reproduction end to end with its report, bad input."""
import json

from typer.testing import CliRunner

from condense_cli.cli import app
import pytest

from condense_cli.reproductions import (FIGURES, READINGS, judge_count, judge_degree, judge_field, judge_growth,
                                    judge_slope, regime_of, reproduce)

runner = CliRunner()
REQUIRED = {"ic-fig2", "ic-fig4a", "ic-fig5", "ic-fig6", "ov-fig1", "ov-fig2", "ov-fig6", "ov-fig8-9", "luo-slopes",
            "ic-table1", "zlw24"}


def test_list_has_every_required_figure():
    res = runner.invoke(app, ["reproduce", "--list", "--json"])
    assert res.exit_code == 0
    figures = json.loads(res.stdout)["figures"]
    ids = {f["id"] for f in figures}
    assert REQUIRED <= ids == set(FIGURES)
    # each says what --quick changes, or that it has no cheaper version (the paper's run is already short)
    assert all("quick" in f for f in figures)
    assert {f["id"] for f in figures if f["quick"] is None} == {"ic-fig5", "ov-fig6", "ep-inertia"}
    table = runner.invoke(app, ["reproduce", "--list"], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "no cheaper version" in table.stdout
    # at 80 columns every line fits, and no word is cut in two: each word of a criterion is whole on some line
    lines = table.stdout.splitlines()
    assert all(len(l) <= 80 for l in lines)
    words = set(" ".join(lines).split())
    for f in figures:
        assert set(f["criterion"].split()) <= words, f["id"]


@pytest.mark.slow
def test_reproduction_counts_agreeing_seeds_under_both_readings():
    rep = reproduce("ov-fig6", quick=True, seeds=2)
    assert rep.total == 8 and rep.paper and rep.measured and rep.figures and rep.criterion and rep.settings
    rows = rep.details["rows"]
    assert sum(r["persistent"]["agree"] for r in rows) == rep.agree
    assert sum(r["fixed"]["agree"] for r in rows) == rep.agree_fixed
    assert rep.measured_fixed and rep.measured_fixed != rep.measured or rep.agree == rep.agree_fixed


@pytest.fixture(scope="module")
def tanh_run():
    """The overview Fig. 6 tanh setting: condensed on one line by epoch 100."""
    from condense_cli import TrainConfig, train

    return train(TrainConfig(act="tanh", data="sin1", width=100, gamma=4, lr=5e-4, steps=100, record_every=50))


def test_every_count_criterion_fails_on_an_untrained_network(tanh_run):
    from condense_cli.measure.analyze import AnalysisOptions, analyze

    trained = analyze(tanh_run, AnalysisOptions(at="end")).layers[0].to_json()
    untrained = analyze(tanh_run, AnalysisOptions(at="0")).layers[0].to_json()
    assert trained["condensed"] and not untrained["condensed"]
    for which in READINGS:
        assert judge_count(trained, 2, 1, which)
        assert not judge_count(trained, 4, 2, which)  # a count must equal the paper's, not stay below it
        assert not judge_count(untrained, 2, 1, which) and not judge_count(untrained, None, None, which)
        assert not judge_field(untrained, 1, which)
    # a count of the right size on a layer that did not condense does not agree
    fake = {**untrained, "measure": {**untrained["measure"], "persistent": {**(untrained["measure"]["persistent"] or {}),
                                                                            "directions": 2, "lines": 1}}}
    assert not judge_count(fake, 2, 1)


def test_degree_slope_and_growth_criteria_are_two_sided():
    assert judge_degree(1, 1, 0.5) and not judge_degree(1, 1, 1.0)  # untrained: did not learn
    assert not judge_degree(1, 2, 0.5)  # degree below p is not "close to a degree-p polynomial"
    assert not judge_degree(3, 2, 0.5) and not judge_degree(None, 1, 0.5)
    assert judge_degree(None, None, 0.5) and judge_degree(3, None, 0.5) and not judge_degree(1, None, 0.5)
    assert not judge_degree(None, None, 0.95)
    assert judge_slope(0.05, 0.007, True) and not judge_slope(0.05, 0.007, False)  # unconverged never agrees
    assert not judge_slope(0.11, 0.007, True)  # within 0.104 of it but in the condensed regime
    assert not judge_slope(-0.35, -0.506, True) and judge_slope(-0.45, -0.506, True)
    assert not judge_slope(float("nan"), 0.372, True)
    assert judge_growth([2, 3, 3, 4], [True] * 4)
    assert not judge_growth([2, 2, 2], [True] * 3) and not judge_growth([3, 2, 4], [True] * 3)
    assert not judge_growth([2, 3, 4], [True, False, True])  # uncondensed marks count for nothing
    assert regime_of(-0.2) == "linear" and regime_of(0.0) == "critical" and regime_of(0.3) == "condensed"


def test_cli_end_to_end_report_and_force(tmp_path):
    out = tmp_path / "rep"
    res = runner.invoke(app, ["reproduce", "ov-fig6", "--quick", "--seeds", "2", "--out-dir", str(out), "--json", "-q"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["results"][0]["figure"] == "ov-fig6" and obj["results"][0]["total"] == 8
    md = (out / "report.md").read_text()
    assert "| ov-fig6 |" in md and "paper" in md and "measured" in md
    assert "- criterion: per seed and epoch: condensed" in md and "- measured (fixed cosine 0.95):" in md
    assert "- settings:" in md and "overview Fig. 6 caption" in md
    assert obj["results"][0]["criterion"] and "agree_fixed" in obj["results"][0]
    runs = obj["results"][0]["runs"]
    assert len(runs) == 8 and sum(r["agree"] for r in runs) == obj["results"][0]["agree"]
    assert "- runs: " in md and " of 8 agree" in md
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html  # self-contained, inert
    assert (out / "ov-fig6.png").exists()
    res = runner.invoke(app, ["reproduce", "ov-fig6", "--quick", "--out-dir", str(out), "-q"])
    assert res.exit_code == 2 and "--force" in res.stderr
    res = runner.invoke(app, ["reproduce", "fig99", "--out-dir", str(tmp_path / "x"), "-q"])
    assert res.exit_code == 2 and "unknown figure 'fig99'" in res.stderr


def test_table1_accuracy_criterion_is_two_sided_and_the_initializations_are_the_table_s():
    from condense_cli.reproductions.criteria import ACCURACY_BAND, judge_accuracy
    from condense_cli.reproductions.initial_condensation import IC_TABLE1_INITS

    assert judge_accuracy(0.975, 0.98) and judge_accuracy(0.98 + 0.99 * ACCURACY_BAND, 0.98)
    assert not judge_accuracy(0.1, 0.98)  # an untrained network (chance on 10 classes) fails
    assert not judge_accuracy(0.95, 0.98) and not judge_accuracy(float("nan"), 0.98)
    kinds = {n: k for n, (k, _) in IC_TABLE1_INITS.items()}
    assert sorted(kinds.values()) == ["common"] * 3 + ["condensed"] * 3
    var = {n: v(64, 256) for n, (_, v) in IC_TABLE1_INITS.items()}
    assert var["Glorot normal"] == pytest.approx(2 / 320) and var["He normal"] == pytest.approx(2 / 64)
    assert var["LeCun normal"] == pytest.approx(1 / 64) and var["N(0, 1/m_out^3)"] == pytest.approx(256 ** -3)
    assert var["N(0, 1/m^2)"] == pytest.approx(160 ** -2)
    # every condensed variance is far below every common one: the two sides of the phase diagram
    assert max(v for n, v in var.items() if kinds[n] == "condensed") < min(
        v for n, v in var.items() if kinds[n] == "common") / 10


def test_transformer_answer_criterion_is_two_sided():
    from condense_cli.reproductions.criteria import judge_answers

    assert judge_answers(0.8, 0.1, "inferential") and not judge_answers(0.8, 0.1, "symmetric")
    assert judge_answers(0.1, 0.9, "symmetric") and not judge_answers(0.1, 0.9, "inferential")
    assert not judge_answers(0.01, 0.01, "inferential") and not judge_answers(0.01, 0.01, "symmetric")  # untrained
    assert not judge_answers(0.45, 0.05, "inferential")  # not a majority


@pytest.mark.slow
@pytest.mark.parametrize("figure", ["ic-fig4a", "ic-fig5", "ic-fig6", "ov-fig2", "ov-fig6"])
def test_every_run_is_listed_and_the_runs_add_up_to_the_agree_count(figure):
    rep = reproduce(figure, quick=True, seeds=1)
    assert len(rep.runs) == rep.total and sum(r.agree for r in rep.runs) == rep.agree
    for r in rep.runs:
        assert r.setting and (r.reason is None) == r.agree
        assert r.agree or (isinstance(r.reason, str) and r.reason)
    for text in [rep.measured] + [a.measured for a in rep.ablations]:  # a legend only for a mark that appears
        assert ("*" in text) == ("not condensed" in text) or "* not condensed" not in text
    assert ("*" in rep.measured) == ("* not condensed" in rep.measured)


def test_the_field_criterion_reads_angles_and_names_the_failed_clause():
    from condense_cli.reproductions.criteria import count_reason, degree_reason, growth_reason, slope_reason

    assert count_reason({"condensed": False, "measure": {}}, 2, 1) == "not condensed"
    layer = {"condensed": True, "measure": {"persistent": {"directions": 4, "lines": 3}}}
    assert count_reason(layer, 4, 2) == "3 lines, paper 2" and count_reason(layer, 4, 3) is None
    assert degree_reason(2, 1, 0.5) == "lowest fitting degree 2, paper 1"
    assert degree_reason(1, 1, 0.95).startswith("did not learn")
    assert growth_reason([2, 2, 2], [True] * 3, [1000, 3000, 5000]) == "2 directions at the end, as at step 1000: no growth"
    assert growth_reason([2, 3], [True, False], [1000, 3000]) == "not condensed at step 3000"
    assert slope_reason(0.3, 0.007, True) == "regime condensed, paper critical"
    assert slope_reason(0.3, 0.007, False).startswith("not evaluated")


def test_the_dropout_criteria_of_fig_8_and_9_fail_on_the_wrong_network():
    """Fig. 8: dropout condensed on fewer lines than normal init (or normal init not condensed);
    Fig. 9: dropout at 5 % of its initial loss before the small initialization."""
    from condense_cli.reproductions.criteria import dropout_condensed_reason, dropout_sooner_reason

    def layer(condensed, lines):
        return {"condensed": condensed, "measure": {"persistent": {"directions": 2 * lines, "lines": lines}}}

    assert dropout_condensed_reason(layer(True, 1), layer(False, 5)) is None
    assert dropout_condensed_reason(layer(True, 1), layer(True, 2)) is None
    assert dropout_condensed_reason(layer(False, 1), layer(False, 5)) == "the dropout network is not condensed"
    assert "condensed on 1 line, the dropout one on 2 lines: not fewer" in dropout_condensed_reason(layer(True, 2), layer(True, 1))
    assert dropout_sooner_reason(100, 300) is None and dropout_sooner_reason(100, None) is None
    assert dropout_sooner_reason(None, 300) == "the dropout network never reached 5 % of its initial loss"
    assert dropout_sooner_reason(300, 100).endswith("not sooner")
