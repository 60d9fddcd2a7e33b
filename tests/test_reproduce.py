"""`condense reproduce`: the list, one cheap reproduction end to end with its report, bad input."""
import json

from typer.testing import CliRunner

from condense_cli.cli import app
from condense_cli.reproduce import FIGURES, reproduce

runner = CliRunner()
REQUIRED = {"ic-fig2", "ic-fig4a", "ic-fig5", "ic-fig6", "ov-fig1", "ov-fig2", "ov-fig6", "ov-fig8-9", "luo-slopes"}


def test_list_has_every_required_figure():
    res = runner.invoke(app, ["reproduce", "--list", "--json"])
    assert res.exit_code == 0
    ids = {f["id"] for f in json.loads(res.stdout)["figures"]}
    assert REQUIRED <= ids == set(FIGURES)


def test_reproduction_counts_agreeing_seeds():
    rep = reproduce("ov-fig6", quick=True, seeds=2)
    assert rep.total == 8 and 0 <= rep.agree <= rep.total
    assert rep.paper and rep.measured and rep.figures
    rows = rep.details["rows"]
    assert sum(r["agree"] for r in rows) == rep.agree
    assert all(r["agree"] == sum(d <= r["bound"] for d in r["directions"]) for r in rows)


def test_cli_end_to_end_report_and_force(tmp_path):
    out = tmp_path / "rep"
    res = runner.invoke(app, ["reproduce", "ov-fig6", "--quick", "--seeds", "2", "--out-dir", str(out), "--json", "-q"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["results"][0]["figure"] == "ov-fig6" and obj["results"][0]["total"] == 8
    md = (out / "report.md").read_text()
    assert "| ov-fig6 |" in md and "paper" in md and "measured" in md
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html  # self-contained, inert
    assert (out / "ov-fig6.png").exists()
    res = runner.invoke(app, ["reproduce", "ov-fig6", "--quick", "--out-dir", str(out), "-q"])
    assert res.exit_code == 2 and "--force" in res.stderr
    res = runner.invoke(app, ["reproduce", "fig99", "--out-dir", str(tmp_path / "x"), "-q"])
    assert res.exit_code == 2 and "unknown figure 'fig99'" in res.stderr
