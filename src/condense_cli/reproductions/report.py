"""The reproduction report: Markdown and a self-contained HTML page, each figure with its paper's
claim, settings, criterion, both readings, the agreeing seeds and the ablations."""
from __future__ import annotations

import base64
import html as html_lib
from pathlib import Path

from .. import __version__
from ..io import write_text


def _runs_text(runs: list) -> str:
    """'N of M agree', then each run that does not: its setting, seed and the clause that failed."""
    ok = sum(r["agree"] for r in runs)
    bad = [f"{r['setting'] + ', ' if r['setting'] else ''}seed {r['seed']}: {r['reason']}" for r in runs if not r["agree"]]
    return f"{ok} of {len(runs)} agree" + ("; " + "; ".join(bad) if bad else "")


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """report.md and a self-contained report.html (figures inlined) in `out_dir`, both written
    atomically. `report`: {"quick", "seeds", "seconds", "results": [one dict per figure: figure,
    title, source, paper, criterion, settings, measured, agree, total, measured_fixed, agree_fixed,
    ablations, runs, figures (PNG paths)]}."""
    def fixed(r):
        return "-" if r["agree_fixed"] is None else f"{r['agree_fixed']}/{r['total']}"

    mode = "quick" if report["quick"] else "full"
    lines = [f"# condense reproductions ({mode}, {report['seeds']} seeds)", "",
             f"condense {__version__}; {report['seconds']:.0f} s in all. Each figure states its criterion; a run "
             "(setting × seed) agrees when its measurement meets it, and each run that does not says which clause "
             "failed. Counts are read with the persistent count (the best-separated partition of the neurons, or "
             "the count over the widest range of tolerances where no partition is separated) and, second, at the "
             "fixed cosine 0.95; a layer must be judged condensed for a count to agree.", "",
             "| figure | source | paper | criterion | agree (persistent) | agree (cos 0.95) |", "|---|---|---|---|---|---|"]
    for r in report["results"]:
        lines.append(f"| {r['figure']} | {r['source']} | {r['paper']} | {r['criterion']} | "
                     f"{r['agree']}/{r['total']} | {fixed(r)} |")
    lines.append("")
    for r in report["results"]:
        lines += [f"## {r['figure']}: {r['title']}", "", f"- paper ({r['source']}): {r['paper']}",
                  f"- settings: {r['settings']}", f"- criterion: {r['criterion']}",
                  f"- measured (persistent count): {r['measured']}", f"- agree: {r['agree']} of {r['total']}",
                  f"- measured (fixed cosine 0.95): {r['measured_fixed']}",
                  f"- agree (fixed cosine 0.95): {fixed(r)}"]
        lines.append(f"- runs: {_runs_text(r.get('runs') or [])}")
        for a in r["ablations"]:
            lines.append(f"- ablation, {a['setting']} ({a['source']}): {a['measured']}; agree {a['agree']} of {a['total']}")
        lines.append("")
        lines += [f"![{Path(f).stem}]({Path(f).name})" for f in r["figures"]] + [""]
    md_path = out_dir / "report.md"
    write_text(md_path, "\n".join(lines))

    esc = html_lib.escape
    body = [f"<h1>condense reproductions ({mode}, {report['seeds']} seeds)</h1>",
            "<table><tr><th>figure</th><th>source</th><th>paper</th><th>criterion</th><th>measured</th>"
            "<th>agree</th><th>at cos 0.95</th></tr>"]
    for r in report["results"]:
        body.append(f"<tr><td>{esc(r['figure'])}</td><td>{esc(str(r['source']))}</td><td>{esc(r['paper'])}</td>"
                    f"<td>{esc(r['criterion'])}</td><td>{esc(r['measured'])}</td><td>{r['agree']}/{r['total']}</td>"
                    f"<td>{esc(fixed(r))}</td></tr>")
    body.append("</table>")
    for r in report["results"]:
        abl = "".join(f"<br><b>ablation</b>, {esc(a['setting'])} ({esc(a['source'])}): {esc(a['measured'])}; "
                      f"agree {a['agree']} of {a['total']}" for a in r["ablations"])
        body.append(f"<h2>{esc(r['figure'])}: {esc(r['title'])}</h2><p><b>paper:</b> {esc(r['paper'])}<br>"
                    f"<b>settings:</b> {esc(r['settings'])}<br><b>criterion:</b> {esc(r['criterion'])}<br>"
                    f"<b>measured:</b> {esc(r['measured'])}<br><b>agree:</b> {r['agree']} of {r['total']}<br>"
                    f"<b>runs:</b> {esc(_runs_text(r.get('runs') or []))}<br>"
                    f"<b>at cos 0.95:</b> {esc(r['measured_fixed'])}; agree {esc(fixed(r))}{abl}</p>")
        for f in r["figures"]:
            data = base64.b64encode(Path(f).read_bytes()).decode()
            body.append(f'<img alt="{esc(Path(f).stem)}" style="max-width:100%" src="data:image/png;base64,{data}">')
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>condense reproductions</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:4px;vertical-align:top}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    html_path = out_dir / "report.html"
    write_text(html_path, page)
    return md_path, html_path
