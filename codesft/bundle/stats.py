"""Running counts for the manifest, summary.json and report.html (constant memory in the record count)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from codesft.bundle.reasons import reason_code
from codesft.schema import Sample

TOKEN_BINS = [0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
SCORE_BINS = [0, 50, 60, 70, 80, 85, 90, 95, 100.01]


def _bin(value: float, edges: list[float]) -> str:
    for lo, hi in zip(edges, edges[1:]):
        if lo <= value < hi:
            return f"{lo:g}-{hi:g}" if hi != 100.01 else f"{lo:g}-100"
    return f">={edges[-1]:g}"


class Stats:
    def __init__(self) -> None:
        self.decisions: Counter[str] = Counter()
        self.rejected_by_reason: Counter[str] = Counter()
        self.rejected_by_stage: Counter[str] = Counter()
        self.downgraded_by_reason: Counter[str] = Counter()
        self.by_split: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()
        self.by_language: Counter[str] = Counter()
        self.by_source: Counter[str] = Counter()
        self.by_format: dict[str, Counter[str]] = {}
        self.tokens: Counter[str] = Counter()
        self.scores: Counter[str] = Counter()
        self.verification: Counter[str] = Counter()
        self.redaction_findings: Counter[str] = Counter()
        self.redaction_status: Counter[str] = Counter()
        self.with_fault = 0

    def _redaction(self, record: dict[str, Any] | None) -> None:
        red = (record or {}).get("redaction") or {}
        self.redaction_status[red.get("status", "clean")] += 1
        for f in red.get("findings", []):
            self.redaction_findings[f"{f['kind']} ({f['action']})"] += 1

    @staticmethod
    def sample_info(s: Sample, exported: list[str]) -> dict[str, Any]:
        """What `add_sample` counts, as a small picklable dict (built where the record is)."""
        return {"decision": s.quality.decision, "reasons": list(s.quality.reasons),
                "split": s.split.assignment if s.split else "none", "category": s.metadata.category,
                "language": s.metadata.language, "kind": s.source.kind, "tokens": s.quality.token_estimate,
                "score": s.quality.score, "verification": s.quality.verification.status,
                "fault": s.fault is not None, "exported": list(exported),
                "redaction": {"status": s.redaction.status,
                              "findings": [{"kind": f.kind, "action": f.action} for f in s.redaction.findings]}}

    @staticmethod
    def sample_info_dict(d: dict[str, Any], exported: list[str]) -> dict[str, Any]:
        """`sample_info` for a record in its JSON form (`Sample.model_dump(mode="json")`)."""
        q, red = d["quality"], d["redaction"]
        return {"decision": q["decision"], "reasons": list(q["reasons"]),
                "split": d["split"]["assignment"] if d.get("split") else "none", "category": d["metadata"]["category"],
                "language": d["metadata"]["language"], "kind": d["source"]["kind"], "tokens": q["token_estimate"],
                "score": q["score"], "verification": q["verification"]["status"],
                "fault": d.get("fault") is not None, "exported": list(exported),
                "redaction": {"status": red["status"],
                              "findings": [{"kind": f["kind"], "action": f["action"]} for f in red["findings"]]}}

    @staticmethod
    def rejected_info(entry: dict[str, Any]) -> dict[str, Any]:
        """The parts of a rejected entry that `add_rejected` reads."""
        slim: dict[str, Any] = {"reason": entry.get("reason"), "stage": entry.get("stage")}
        record = entry.get("record")
        if isinstance(record, dict):
            slim["record"] = {"source": {"kind": record.get("source", {}).get("kind", "unknown")},
                              "redaction": record.get("redaction") or {}}
        return slim

    def add_sample(self, s: Sample, exported: list[str]) -> None:
        self.add_info(self.sample_info(s, exported))

    def add_info(self, info: dict[str, Any]) -> None:
        d = info["decision"]
        self.decisions[d] += 1
        if d == "downgraded":
            for r in info["reasons"]:
                self.downgraded_by_reason[reason_code(r)] += 1
        self.by_split[info["split"]] += 1
        self.by_category[info["category"]] += 1
        self.by_language[info["language"]] += 1
        self.by_source[info["kind"]] += 1
        self.tokens[_bin(info["tokens"], TOKEN_BINS)] += 1
        self.scores[_bin(info["score"], SCORE_BINS)] += 1
        self.verification[info["verification"]] += 1
        self.with_fault += info["fault"]
        self._redaction(info)
        for fmt in info["exported"]:
            self.by_format.setdefault(fmt, Counter())[info["split"]] += 1

    def add_rejected(self, entry: dict[str, Any]) -> None:
        self.decisions["rejected"] += 1
        self.rejected_by_reason[reason_code(str(entry.get("reason", "unknown")))] += 1
        self.rejected_by_stage[str(entry.get("stage") or "unknown")] += 1
        record = entry.get("record")
        if isinstance(record, dict):
            self.by_source[f"{record.get('source', {}).get('kind', 'unknown')} (rejected)"] += 1
            self._redaction(record)
        else:
            self.by_source["unreadable input"] += 1

    def summary(self, formats: list[str]) -> dict[str, Any]:
        srt = lambda c: dict(sorted(c.items()))
        accepted, downgraded, rejected = (self.decisions[k] for k in ("accepted", "downgraded", "rejected"))
        return {
            "counts": {
                "inputs": accepted + downgraded + rejected, "accepted": accepted, "downgraded": downgraded,
                "rejected": rejected, "rejected_by_reason": srt(self.rejected_by_reason),
                "rejected_by_stage": srt(self.rejected_by_stage),
                "downgraded_by_reason": srt(self.downgraded_by_reason), "by_split": srt(self.by_split),
                "by_category": srt(self.by_category), "by_language": srt(self.by_language),
                "by_source": srt(self.by_source), "with_fault": self.with_fault,
                "by_format": {f: srt(self.by_format.get(f, Counter())) for f in formats},
            },
            "token_lengths": {k: self.tokens[k] for k in [_bin(e, TOKEN_BINS) for e in TOKEN_BINS[:-1]] + [f">={TOKEN_BINS[-1]}"]},
            "scores": {k: self.scores[k] for k in [_bin(e, SCORE_BINS) for e in SCORE_BINS[:-1]]},
            "verification": srt(self.verification),
            "redaction": {"status": srt(self.redaction_status), "findings": srt(self.redaction_findings)},
        }
