"""The one page of `codesft run`: dataset, training and evaluation side by side, linking each stage's own report."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}h1{margin-bottom:.2rem}.muted{color:#777}.bar{fill:#4a7bd0}"""


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _link(out: Path, target: str | Path, label: str) -> str:
    rel = os.path.relpath(Path(target), out)
    return f'<a href="{html.escape(rel)}">{html.escape(label)}</a>'


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) else "–"


def _count(x: Any) -> str:
    return str(len(x)) if isinstance(x, list) else "–" if x is None else str(x)


def _bars(rows: list[tuple[str, float]]) -> str:
    """Inline SVG bar chart of pass@1 (no scripts, no network)."""
    width, bar_h = 420, 22
    parts = [f'<svg width="{width + 160}" height="{bar_h * len(rows) + 6}" role="img">']
    for i, (label, value) in enumerate(rows):
        y = i * bar_h + 3
        w = max(1, int(width * value))
        parts.append(f'<text x="0" y="{y + 15}" font-size="13">{html.escape(label)}</text>'
                     f'<rect class="bar" x="110" y="{y}" width="{w}" height="{bar_h - 6}"/>'
                     f'<text x="{116 + w}" y="{y + 15}" font-size="12">{_pct(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def verdict(entry: dict[str, Any], significance: float) -> str:
    """better / same / worse than base, from a paired comparison (codesft.evaluate.compare): a difference counts
    only when McNemar's p is below `significance`; anything else is the same within noise."""
    p, d = entry["mcnemar"]["p_value"], entry["difference"]
    if p < significance and d > 0:
        return "better"
    if p < significance and d < 0:
        return "worse"
    return "same"


_VERDICT_WORDS = {"better": "is better than base", "worse": "is worse than base",
                  "same": "is the same as base within noise"}


def verdict_sentence(model: str, bench: str, entry: dict[str, Any], significance: float) -> str:
    """One sentence: the verdict with the pass@1 of both, the difference, its 95% CI and McNemar's p."""
    lo, hi = entry["ci95"]
    p = entry["mcnemar"]["p_value"]
    kind = verdict(entry, significance)
    test = f"p = {p:.3g}" + (f" ≥ {significance:g}" if kind == "same" else "")
    return (f"{model} {_VERDICT_WORDS[kind]} on {bench}: pass@1 {_pct(entry['pass@1_baseline'])} → "
            f"{_pct(entry['pass@1_candidate'])}, difference {100 * entry['difference']:+.1f} points "
            f"(95% CI {100 * lo:+.1f} to {100 * hi:+.1f}), McNemar {test}, {entry['problems']} problem{'' if entry['problems'] == 1 else 's'}.")


def verdicts(info: dict[str, Any]) -> list[dict[str, str]]:
    """One verdict per trained model and benchmark, in the order the run evaluated them."""
    out = []
    for bench, comp in info["compare"].items():
        for entry in comp["report"]["comparisons"]:
            model = Path(entry["run"]).name  # eval/<benchmark>/<model>
            out.append({"model": model, "benchmark": bench, "verdict": verdict(entry, info["significance"]),
                        "sentence": verdict_sentence(model, bench, entry, info["significance"]),
                        "lost": len(entry.get("lost") or []), "lost_by_kind": entry.get("lost_by_kind") or {}})
    return out


def lost_sentence(v: dict[str, Any]) -> str:
    """Where a trained model lost to base, and how it failed those problems (format drift reads as syntax_error,
    no_code or truncated; wrong logic as wrong_answer)."""
    kinds = ", ".join(f"{k} {n}" for k, n in v["lost_by_kind"].items()) or "kinds not recorded"
    return (f"{v['model']} lost {v['lost']} problem{'' if v['lost'] == 1 else 's'} of {v['benchmark']} that base "
            f"solved, failing them as: {kinds}.")


def headline(found: list[dict[str, Any]]) -> list[str]:
    """The lines the report and the command open with when no trained model beats base: that fact first, then
    the failure kinds of the problems each one lost, so nobody has to read it off the bars."""
    if not found or any(v["verdict"] == "better" for v in found):
        return []
    lost = [lost_sentence(v) for v in found if v.get("lost")]
    return ["No trained model beats base on any benchmark.",
            *(lost or ["No trained model lost a problem base solved either: no change beyond noise."])]


def _verdict_section(found: list[dict[str, Any]]) -> str:
    parts = ["<h2>Verdict</h2>"]
    first, *rest = headline(found) or [None]
    if first:
        parts.append(f"<p><strong>{html.escape(first)}</strong></p>")
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in rest) + "</ul>")
    parts.append("<ul>" + "".join(f"<li>{html.escape(v['sentence'])}</li>" for v in found) + "</ul>")
    return "".join(parts)


def _drift(run: dict[str, Any]) -> str:
    d = run.get("drift")
    return f"{d['kl_mean']:.4g}" if isinstance(d, dict) else "–"


# size: the report page is one linear HTML template, section after section
def write_run_report(out: Path, config: dict[str, Any], info: dict[str, Any]) -> Path:
    """`info["verdicts"]` is `verdicts(info)`, computed once by the run, which also prints them."""
    manifest = _load(Path(info["fault_bundle"]) / "manifest.json") or _load(Path(info["bundle"]) / "manifest.json")
    counts = manifest.get("counts", {})
    body = [f"<h1>codesft run</h1><p class='muted'>preset {html.escape(config['preset'])} · model "
            f"{html.escape(config['model'])} · codesft {html.escape(str(manifest.get('codesft_version', '')))}</p>",
            _verdict_section(info["verdicts"])]

    body.append("<h2>Data</h2><table><tr><th>bundle</th><th>inputs</th><th>accepted</th><th>downgraded</th><th>rejected</th><th>with a fault</th><th>report</th></tr>")
    fault_manifest = _load(Path(info["fault_bundle"]) / "manifest.json")
    own = "sample" in fault_manifest
    second = "the model's own answers" if own else "with faults"
    for label, path in (("curated", info["bundle"]), (second, info["fault_bundle"])):
        m = _load(Path(path) / "manifest.json").get("counts", {})
        body.append(f"<tr><td>{label}: {html.escape(Path(path).parent.name)}/{html.escape(Path(path).name)}</td>"
                    f"<td>{m.get('inputs', '–')}</td><td>{m.get('accepted', '–')}</td><td>{m.get('downgraded', '–')}</td>"
                    f"<td>{m.get('rejected', '–')}</td><td>{m.get('with_fault', '–')}</td>"
                    f"<td>{_link(out, Path(path) / 'report.html', 'report.html')}</td></tr>")
    body.append("</table>")
    if own:
        # answers: self: what the models trained on came from the base model itself, checked in the sandbox.
        sc = fault_manifest["sample"]
        hist = ", ".join(f"{k}: {v}" for k, v in (sc.get("pass_rate_histogram") or {}).items())
        body.append(f"<p>Trained on the base model's own answers (codesft sample): {sc.get('problems', 0)} problems, "
                    f"{sc.get('samples', 0)} answers drawn, {sc.get('passed', 0)} passed their tests; "
                    f"{sc.get('resolved', 0)} re-solved with the reference in view, {sc.get('unsolved', 0)} unsolved "
                    f"(reference kept); {sc.get('faults', 0)} natural faults (the nearest failing answer). "
                    f"Answers passed out of k, by problem: {html.escape(hist) or '–'}.</p>")
    if not counts:
        body.append("<p class='muted'>bundle manifest not readable</p>")

    body.append("<h2>Training</h2><table><tr><th>method</th><th>records</th><th>steps</th><th>train loss</th><th title='mean per-token KL(fine-tuned || base) on held-out prompts'>drift (KL)</th><th>wall time</th><th>files</th></tr>")
    for method, d in info["train"].items():
        run = _load(Path(d) / "run.json")
        metrics = run.get("metrics", {})
        loss = metrics.get("train_loss")
        secs = info["timings"].get(f"train-{method}")
        links = " · ".join(_link(out, Path(d) / name, name) for name in ("run.json", "config.yaml", "preflight.json")
                           if (Path(d) / name).exists())
        body.append(f"<tr><td>{html.escape(method)}</td><td>{run.get('records', '–')}</td><td>{run.get('global_step', '–')}</td>"
                    f"<td>{f'{loss:.4f}' if isinstance(loss, (int, float)) else '–'}</td><td>{_drift(run)}</td>"
                    f"<td>{f'{secs:.0f} s' if secs is not None else '–'}</td><td>{links}</td></tr>")
    body.append("</table>")

    body.append("<h2>Evaluation</h2>")
    for bench, runs in info["eval"].items():
        rows = []
        role = " <span class='muted'>(retention)</span>" if bench in info.get("retention", []) else ""
        body.append(f"<h3>{html.escape(bench)}{role}</h3><table><tr><th>model</th><th>problems</th><th>pass@1</th><th>95% CI</th><th>report</th></tr>")
        for name, d in runs.items():
            summary = _load(Path(d) / "summary.json")
            p1 = summary.get("metrics", {}).get("pass@k", {}).get("pass@1", {})
            rows.append((name, p1.get("value", 0.0)))
            body.append(f"<tr><td>{html.escape(name)}</td><td>{summary.get('problems', '–')}</td><td>{_pct(p1.get('value'))}</td>"
                        f"<td>{_pct(p1.get('ci_low'))} – {_pct(p1.get('ci_high'))}</td>"
                        f"<td>{_link(out, Path(d) / 'report.html', 'report.html')}</td></tr>")
        body.append("</table>" + _bars(rows))
        comp = info["compare"].get(bench)
        if comp:
            body.append("<table><tr><th>vs base</th><th>problems</th><th>Δ pass@1</th><th>95% CI</th><th>won</th><th>lost</th><th>McNemar p</th></tr>")
            for entry in comp["report"].get("comparisons", []):
                p = entry.get("mcnemar", {}).get("p_value")
                body.append(f"<tr><td>{html.escape(Path(entry['run']).name)}</td><td>{entry.get('problems')}</td>"
                            f"<td>{_pct(entry.get('difference'))}</td><td>{_pct((entry.get('ci95') or [None])[0])} – {_pct((entry.get('ci95') or [None, None])[1])}</td><td>{_count(entry.get('won'))}</td><td>{_count(entry.get('lost'))}</td>"
                            f"<td>{f'{p:.3g}' if isinstance(p, float) else '–'}</td></tr>")
            body.append(f"</table><p>{_link(out, Path(comp['dir']) / 'comparison.html', 'full comparison')}</p>")

    body.append("<h2>Timings</h2><table><tr><th>stage</th><th>seconds</th></tr>")
    for stage, secs in info["timings"].items():
        body.append(f"<tr><td>{html.escape(stage)}</td><td>{secs:.1f}</td></tr>")
    body.append("</table>")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>codesft run</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    (out / "run_summary.json").write_text(json.dumps(info, indent=2, default=str))
    return path
