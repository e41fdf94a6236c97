"""Dataset report: one self-contained HTML page (inline CSS + SVG, no scripts, no network) from summary.json."""

from __future__ import annotations

import html
import json
from typing import Any

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d232b;padding:0 16px}
h1{font-size:22px}h2{font-size:16px;margin:0 0 8px}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:16px}
.card{border:1px solid #d8dee6;border-radius:8px;padding:14px}.kpi{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0 20px}
.kpi div{border:1px solid #d8dee6;border-radius:8px;padding:10px 16px;min-width:110px}.kpi b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eef1f4;padding:3px 6px;text-align:left;font-size:13px}
.muted{color:#68707a}pre{white-space:pre-wrap;font-size:12px;background:#f6f8fa;padding:8px;border-radius:6px}"""
_COLORS = ["#3b6fd6", "#2e9e6a", "#d9822b", "#c2415d", "#7b52c9", "#1f9bb4", "#8a8f2a", "#9c5b3a"]


def bar_chart(data: dict[str, float], color: str = "#3b6fd6", width: int = 460) -> str:
    """Horizontal bars as inline SVG; labels and values are escaped text nodes."""
    if not data:
        return '<p class="muted">none</p>'
    items = list(data.items())
    label_w, row_h = 190, 22
    peak = max(v for _, v in items) or 1
    bar_w = width - label_w - 60
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * row_h
        w = max(1.0, bar_w * value / peak) if value else 0
        lab = html.escape(str(label) if len(str(label)) <= 30 else str(label)[:29] + "…")
        rows.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{lab}</text>'
                    f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}" rx="2"/>'
                    f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{value:g}</text>')
    h = len(items) * row_h + 4
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
            f'role="img">{"".join(rows)}</svg>')


def stacked_bar(data: dict[str, float], width: int = 460) -> str:
    total = sum(data.values())
    if not total:
        return '<p class="muted">none</p>'
    x, parts, legend = 0.0, [], []
    for i, (label, value) in enumerate(data.items()):
        w = width * value / total
        c = _COLORS[i % len(_COLORS)]
        parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="22" fill="{c}"/>')
        legend.append(f'<span style="color:{c}">&#9632;</span> {html.escape(str(label))} {value:g} '
                      f'({100 * value / total:.1f}%)')
        x += w
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="22">{"".join(parts)}</svg>'
            f'<div class="muted">{" &nbsp; ".join(legend)}</div>')


def _card(title: str, body: str) -> str:
    return f'<div class="card"><h2>{html.escape(title)}</h2>{body}</div>'


def review_card(r: dict[str, Any]) -> str:
    """`codesft review apply`'s statistics: outcomes, reasons, rubric means, reviewers, agreement."""
    kappa = r["agreement"]["cohen_kappa"]
    rows = [("records reviewed", f'{r["records_reviewed"]} of {r["records"]}'), ("decisions", r["decisions"]),
            ("Cohen's kappa", "n/a (undefined, see docs/review.md)" if kappa is None else kappa),
            ("records with 2+ reviewers", r["agreement"]["records_with_two_or_more_reviewers"]),
            ("database sha256", r["database_sha256"][:16] + "…")]
    table = "<table>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return (stacked_bar({"approved": r["approved"], "edited": r["edited"], "rejected": r["rejected"]})
            + table + "</table><h2>Rejected by reviewers</h2>" + bar_chart(r["rejected_by_reason"], _COLORS[3])
            + "<h2>Rubric means (1-5)</h2>" + bar_chart(r["rubric_means"], _COLORS[4])
            + "<h2>Decisions by reviewer</h2>" + bar_chart(r["decisions_by_reviewer"], _COLORS[5]))


def sample_card(s: dict[str, Any]) -> str:
    """`codesft sample`'s counts: records by answers passed out of k, and what was kept."""
    rows = [("problems sampled", s["problems"]), ("answers drawn", s["samples"]), ("answers passed", s["passed"]),
            ("re-solved with the reference in view", s["resolved"]), ("unsolved (reference kept)", s["unsolved"]),
            ("solved by every answer", s["solved_all"]), ("self faults", s["faults"])]
    table = "<table>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return ("<h2>Records by answers passed (pass-rate histogram)</h2>" + bar_chart(s["pass_rate_histogram"], _COLORS[1])
            + table + "</table><h2>Answers that did not pass, by reason</h2>" + bar_chart(s["failures"], _COLORS[3]))


def render_html(summary: dict[str, Any], title: str = "dataset") -> str:
    c = summary["counts"]
    kpis = "".join(f"<div><b>{c[k]}</b>{k}</div>" for k in ("inputs", "accepted", "downgraded", "rejected"))
    pipeline = summary.get("pipeline") or {}
    cards = [
        _card("Decisions", stacked_bar({k: c[k] for k in ("accepted", "downgraded", "rejected")})),
        _card("Composition by category", bar_chart(c["by_category"])),
        _card("Composition by language", bar_chart(c["by_language"], _COLORS[1])),
        _card("Records by source", bar_chart(c["by_source"], _COLORS[5])),
        _card("Rejection reasons", bar_chart(dict(sorted(c["rejected_by_reason"].items(), key=lambda kv: -kv[1])), _COLORS[3])),
        _card("Downgrade reasons", bar_chart(c["downgraded_by_reason"], _COLORS[2])),
        _card("Split sizes", stacked_bar(c["by_split"])),
        _card("Token lengths (estimated)", bar_chart(summary["token_lengths"], _COLORS[4])),
        _card("Quality scores", bar_chart(summary["scores"], _COLORS[6])),
        _card("Verification", bar_chart(summary["verification"], _COLORS[1])),
        _card("Redaction findings", bar_chart(summary["redaction"]["findings"], _COLORS[3])
              + stacked_bar(summary["redaction"]["status"])),
        _card("Export formats (records per split)",
              "<table><tr><th>format</th><th>train</th><th>validation</th><th>test</th></tr>" + "".join(
                  f"<tr><td>{html.escape(f)}</td>" + "".join(f"<td>{n.get(sp, 0)}</td>" for sp in ("train", "validation", "test"))
                  + "</tr>" for f, n in c["by_format"].items()) + "</table>"),
    ]
    if pipeline.get("review"):
        cards.append(_card("Human review", review_card(pipeline["review"])))
    if pipeline.get("sample"):
        cards.append(_card("Self-sampling", sample_card(pipeline["sample"])))
    if pipeline:
        cards.append(_card("Pipeline statistics", f"<pre>{html.escape(json.dumps(pipeline, indent=1, sort_keys=True))}</pre>"))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} — codesft dataset report</title>'
            f'<style>{_CSS}</style></head><body><h1>{html.escape(title)} — dataset report</h1>'
            f'<div class="kpi">{kpis}</div><div class="grid">{"".join(cards)}</div></body></html>\n')
