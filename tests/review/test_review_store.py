"""The decision store (WAL, append-only, latest counts), Cohen's kappa, and the stratified sample."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from fastapi.testclient import TestClient

from codesft.review.agreement import agreement, cohen_kappa
from codesft.review.app import create_app
from codesft.review.queue import QueueEntry, build_queue, stratified_sample
from codesft.review.state import ReviewState
from codesft.review.store import NewDecision, ReviewStore, latest


def test_database_is_in_wal_mode_with_full_sync(tmp_path):
    store = ReviewStore(tmp_path / "r.sqlite")
    con = sqlite3.connect(tmp_path / "r.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store._connect() as c:  # every connection the store opens commits with synchronous=FULL (2)
        assert c.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_record_decided_twice_keeps_both_and_the_latest_counts(tmp_path):
    store = ReviewStore(tmp_path / "r.sqlite")
    first = store.add(NewDecision(bundle="b@1", sample_id="x", reviewer="ann", decision="approve"))
    second = store.add(NewDecision(bundle="b@1", sample_id="x", reviewer="bob", decision="reject", reason="unsafe"))
    rows = store.decisions(bundle="b@1", sample_id="x")
    assert [(d.reviewer, d.decision) for d in rows] == [("ann", "approve"), ("bob", "reject")]
    assert all(d.decided_at for d in rows) and second.id > first.id
    assert latest(rows)["x"].decision == "reject"
    assert store.decisions(bundle="other@1") == []


def test_two_reviewers_on_one_database_lose_nothing(bundle, tmp_path):
    """Two servers (two apps) on the same database, each driven by its own client thread, deciding the
    same records at the same time: every decision is stored, with its reviewer."""
    db = tmp_path / "shared.sqlite"
    apps = [create_app(ReviewState.load(bundle, db, share=1.0, seed=42)) for _ in range(2)]
    ids = [e.sample_id for e in ReviewState.load(bundle, db, share=1.0, seed=42).queue]
    rounds = 15
    answers: dict[str, list[int]] = {"ann": [], "bob": []}
    errors: list[str] = []
    start = threading.Barrier(2)

    def review(app, reviewer: str) -> None:
        client = TestClient(app, base_url="http://127.0.0.1:8765")
        start.wait()
        for i in range(rounds):
            sid = ids[i % len(ids)]
            r = client.post("/api/decisions", json={"sample_id": sid, "decision": "approve" if i % 2 else "reject",
                                                    "reason": "duplicate", "reviewer": reviewer})
            if r.status_code != 200:
                errors.append(r.text)
            else:
                answers[reviewer].append(r.json()["id"])

    threads = [threading.Thread(target=review, args=(app, name)) for app, name in zip(apps, answers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = ReviewStore(db).decisions()
    assert len(rows) == 2 * rounds
    assert sorted(d.id for d in rows) == sorted(answers["ann"] + answers["bob"])
    assert {r: sum(d.reviewer == r for d in rows) for r in answers} == {"ann": rounds, "bob": rounds}


def test_cohen_kappa_by_hand():
    # 50 items: both yes 20, a yes / b no 5, a no / b yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["approve", "reject"], ["approve", "reject"]) == pytest.approx(1.0)
    assert cohen_kappa(["approve", "reject"], ["reject", "approve"]) == pytest.approx(-1.0)
    assert cohen_kappa(["approve"] * 3, ["approve"] * 3) is None  # p_e = 1: undefined
    assert cohen_kappa([], []) is None


def test_agreement_uses_each_reviewers_latest_decision(tmp_path):
    store = ReviewStore(tmp_path / "r.sqlite")
    plan = [("r1", "ann", "approve"), ("r1", "bob", "approve"),
            ("r2", "ann", "reject"), ("r2", "bob", "approve"),
            ("r3", "ann", "approve"), ("r3", "bob", "reject"), ("r3", "bob", "approve"),  # bob changed his mind
            ("r4", "ann", "reject"), ("r4", "bob", "reject"),
            ("r5", "ann", "approve")]  # one reviewer only: not compared
    for sid, who, what in plan:
        store.add(NewDecision(bundle="b@1", sample_id=sid, reviewer=who, decision=what, reason="other"))
    result = agreement(store.decisions())
    # ann: A R A R; bob: A A A R -> p_o 3/4; p_e = (2*3 + 2*1)/16 = 0.5; kappa = 0.5.
    assert result["records_with_two_or_more_reviewers"] == 4
    assert result["pairs"] == [{"reviewers": ["ann", "bob"], "records": 4, "observed_agreement": 0.75,
                                "cohen_kappa": 0.5}]
    assert result["cohen_kappa"] == 0.5


def _entries(n_per: dict[tuple[str, str, str], int]) -> list[QueueEntry]:
    out = []
    for (src, cat, split), n in n_per.items():
        out += [QueueEntry(sample_id=f"{src}-{cat}-{split}-{i}", offset=0, source=src, category=cat, split=split)
                for i in range(n)]
    return out


def test_stratified_sample_is_proportional_and_deterministic():
    strata = {("eval_question", "code_generation", "train"): 60, ("chat", "conversation", "train"): 30,
              ("eval_question", "code_generation", "test"): 10}
    entries = _entries(strata)
    chosen = stratified_sample(entries, 0.2, seed=42)
    assert len(chosen) == 20
    per = {k: sum(1 for e in entries if e.stratum == k and e.sample_id in chosen) for k in strata}
    assert per == {k: n // 5 for k, n in strata.items()}
    assert stratified_sample(list(reversed(entries)), 0.2, seed=42) == chosen  # order does not matter
    assert stratified_sample(entries, 0.2, seed=43) != chosen


def test_queue_is_the_sample_plus_every_flagged_record():
    entries = _entries({("chat", "conversation", "train"): 10})
    entries[7].flags = ["redacted"]
    queue = build_queue(entries, 0.2, seed=1)
    sampled = {e.sample_id for e in queue if e.in_sample}
    assert len(sampled) == 2
    assert entries[7] in queue
    assert len(queue) == len(sampled | {entries[7].sample_id})


def test_flags_from_the_pipeline(bundle, tmp_path):
    state = ReviewState.load(bundle, tmp_path / "flags.sqlite", share=0.0, seed=42)
    # share 0: only flagged records are queued; here the one record without tests.
    assert len(state.queue) == 1 and "unverified" in state.queue[0].flags
    assert "human readable" in state.record(state.queue[0].sample_id).user_text()
