"""Self-contained HTML reports (inline CSS and SVG; no scripts, fonts or requests to anything outside the file)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from codesft.evaluate.results import SampleResult, atomic_write_text

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.pass{color:#17803d}.fail{color:#b3261e}pre{background:#f7f7f7;padding:6px;overflow:auto;
max-height:300px}details{margin:4px 0}h2{border-bottom:1px solid #ddd}
.side{display:grid;grid-template-columns:1fr 1fr;gap:8px}.side pre{margin:0}.warn{background:#fdecea;
border:1px solid #b3261e;padding:8px}"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def bar_chart(items: list[tuple[str, float]], title: str, vmax: float = 1.0, width: int = 640) -> str:
    """Horizontal bars as inline SVG; values in [0, vmax]."""
    row, label_w = 22, 200
    h = row * len(items) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" aria-label="{_e(title)}">',
             f'<text x="0" y="14" font-size="13" font-weight="bold">{_e(title)}</text>']
    for i, (label, v) in enumerate(items):
        y = 24 + i * row
        w = 0 if vmax <= 0 else max(0.0, min(1.0, v / vmax)) * (width - label_w - 60)
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{_e(label[:30])}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="#3b6fb6"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12">{v:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _metric_rows(summary: dict[str, Any]) -> str:
    rows = []
    for suite, table in summary["metrics"].get("by_suite", {}).items():
        for k, m in table.items():
            rows.append(f"<tr><td>{_e(suite)}</td><td>{_e(k)}</td><td>{m['value']:.4f}</td>"
                        f"<td>[{m['ci_low']:.4f}, {m['ci_high']:.4f}]</td></tr>")
    for k, m in summary["metrics"].items():
        if "@" in k and k != "pass@k" and isinstance(m, dict):
            rows.append(f"<tr><td>n@k ({_e(m.get('ranking'))})</td><td>{_e(k)}</td><td>{m['value']:.4f}</td>"
                        f"<td>[{m['ci_low']:.4f}, {m['ci_high']:.4f}]</td></tr>")
    for k in ("test_case_average", "strict_accuracy", "bleu"):
        v = summary["metrics"].get(k)
        if isinstance(v, (int, float)):
            rows.append(f"<tr><td>secondary</td><td>{k}</td><td>{v:.4f}</td><td></td></tr>")
    cb = summary["metrics"].get("codebleu")
    if isinstance(cb, dict):
        rows.append(f"<tr><td>secondary</td><td>codebleu</td><td>{cb.get('codebleu', 0):.4f}</td><td></td></tr>")
    return "<table><tr><th>suite</th><th>metric</th><th>value</th><th>95% CI (bootstrap over problems)</th></tr>" \
        + "".join(rows) + "</table>"


_EXAMPLES_PER_KIND = 3


def kinds_html(summary: dict[str, Any], results: list[SampleResult]) -> str:
    """The share of samples of each kind as a chart, and the first few samples of each failing kind with the
    model's raw output beside the program extracted from it (both escaped)."""
    counts = {k: v for k, v in summary.get("kinds", {}).items() if v}
    total = max(1, sum(counts.values()))
    chart = bar_chart([(f"{k} ({v})", v / total) for k, v in counts.items()], "share of samples by kind")
    blocks = []
    for kind, n in counts.items():
        if kind == "passed":
            continue
        examples = [r for r in results if r.kind == kind][:_EXAMPLES_PER_KIND]
        rows = "".join(
            f"<details><summary class='fail'>{_e(r.key)} — {_e((r.reason or '')[:160])}</summary>"
            f"<div class='side'><div><b>raw output</b><pre>{_e(r.raw_output or '')}</pre></div>"
            f"<div><b>extracted program</b><pre>{_e(r.code or '')}</pre></div></div></details>" for r in examples)
        blocks.append(f"<h3>{_e(kind)} ({n} samples; first {len(examples)})</h3>{rows}")
    return chart + "".join(blocks)


def write_report(out: Path, summary: dict[str, Any], results: list[SampleResult]) -> Path:
    cats = [(c, v.get("pass@1", {}).get("value", 0.0)) for c, v in summary.get("per_category", {}).items()]
    statuses = summary.get("status_counts", {})
    total = max(1, sum(statuses.values()))
    failing = [r for r in results if not r.passed][:200]
    sample_rows = "".join(
        f"<details><summary class='fail'>{_e(r.key)}: {_e(r.kind)} — {_e((r.reason or '')[:160])}"
        f"</summary><b>code</b><pre>{_e(r.code or '')}</pre><b>raw output</b><pre>{_e(r.raw_output or '')}"
        f"</pre></details>" for r in failing)
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>codesft eval report</title>
<style>{_CSS}</style></head><body>
<h1>codesft eval: {_e(summary.get('benchmark', {}).get('name'))}</h1>
<p>model <code>{_e(summary.get('model', {}).get('source'))}</code> (revision <code>{_e(summary.get('model', {}).get('revision'))}</code>);
{summary.get('problems')} problems, {summary.get('samples')} samples; benchmark sha256 <code>{_e(summary.get('benchmark', {}).get('sha256', '')[:16])}</code>;
codesft {_e(summary.get('codesft_version'))}</p>{_samples_file_html(summary)}
<h2>Metrics</h2>{_metric_rows(summary)}
<h2>Failure kinds</h2>{kinds_html(summary, results)}
<h2>Charts</h2>
{bar_chart(cats, 'pass@1 by category') if cats else ''}
{bar_chart([(s, c / total) for s, c in statuses.items()], 'share of samples by status')}
<h2>Failing samples (first 200)</h2>{sample_rows or '<p>none</p>'}
<h2>Settings</h2><pre>{_e(json.dumps({k: summary.get(k) for k in ('generation', 'sandbox', 'model', 'timing')}, indent=2))}</pre>
</body></html>"""
    path = out / "report.html"
    atomic_write_text(path, body)
    return path


def _dropped_html(entry: dict[str, Any]) -> str:
    from codesft.evaluate.compare import dropped_note

    note = dropped_note(entry)
    return f"<p class='fail'><b>Not compared:</b> {_e(note)}</p>" if note else ""


def _samples_file_html(summary: dict[str, Any]) -> str:
    acc = summary.get("samples_file")
    if not isinstance(acc, dict):
        return ""
    return (f"<p>samples file <code>{_e(acc.get('path'))}</code>: {acc.get('lines')} lines = "
            f"{acc.get('samples')} samples + {acc.get('blank_lines')} blank lines</p>")


def _kinds_table(title: str, rows: list[dict[str, Any]], by_kind: dict[str, int]) -> str:
    """Problems won or lost, with the kind each run failed them with ("—": that run solved it)."""
    if not rows:
        return f"<p>{_e(title)}: none</p>"
    counts = ", ".join(f"{_e(k)} {n}" for k, n in by_kind.items())
    body = "".join(f"<tr><td>{_e(r['task_id'])}</td><td>{_e(r['baseline'] or '—')}</td>"
                   f"<td>{_e(r['candidate'] or '—')}</td></tr>" for r in rows[:50])
    more = f"<p>... {len(rows) - 50} more in comparison.json</p>" if len(rows) > 50 else ""
    return (f"<h3>{_e(title)} ({len(rows)}; {counts})</h3><table><tr><th>problem</th><th>baseline failed with</th>"
            f"<th>candidate failed with</th></tr>{body}</table>{more}")


def _verdicts_html(report: dict[str, Any]) -> str:
    """One plain sentence per comparison at the top of the page; a significant regression stands out."""
    return "".join(f"<p class='{'warn' if c.get('significant_regression') else ''}'><b>{_e(c['verdict'])}</b></p>"
                   for c in report["comparisons"] if "verdict" in c)


def write_comparison_report(out: Path, report: dict[str, Any]) -> Path:
    sections = []
    for c in report["comparisons"]:
        cats = [(k, v["difference"]) for k, v in c["per_category"].items()]
        shift = [(k, v + 1.0) for k, v in cats]  # bars need non-negative values: plot 1 + difference on [0, 2]
        sections.append(f"""<h2>{_e(c['run'])} vs baseline</h2>
<table><tr><th>problems</th><th>pass@1 baseline</th><th>pass@1 candidate</th><th>difference</th><th>95% CI</th>
<th>McNemar p</th><th>won</th><th>lost</th></tr><tr><td>{c['problems']}</td><td>{c['pass@1_baseline']:.4f}</td>
<td>{c['pass@1_candidate']:.4f}</td><td>{c['difference']:+.4f}</td><td>[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]</td>
<td>{c['mcnemar']['p_value']:.4g}</td><td>{len(c['won'])}</td><td>{len(c['lost'])}</td></tr></table>
{bar_chart(shift, '1 + difference in pass@1 by category (1 = no change)', vmax=2.0)}
{_kinds_table('lost', c.get('lost_kinds', []), c.get('lost_by_kind', {}))}
{_kinds_table('won', c.get('won_kinds', []), c.get('won_by_kind', {}))}{_dropped_html(c)}""")
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>codesft eval comparison</title>
<style>{_CSS}</style></head><body><h1>Paired comparison on {_e(report.get('benchmark'))}</h1>{_verdicts_html(report)}
<p>baseline: <code>{_e(report['baseline'])}</code> ({_e(report.get('baseline_model'))})</p>{''.join(sections)}</body></html>"""
    path = out / "comparison.html"
    atomic_write_text(path, body)
    return path
