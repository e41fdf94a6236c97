"""The JSON API through FastAPI's TestClient: every error case names its problem; saves, security headers,
CSRF refusals, token checks, and record text rendered as text."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from codesft.review.app import create_app
from codesft.review.state import ReviewState

LOCAL = "http://127.0.0.1:8765"


@pytest.fixture()
def state(bundle, tmp_path) -> ReviewState:
    return ReviewState.load(bundle, tmp_path / "review.sqlite", share=1.0, seed=42)


@pytest.fixture()
def client(state) -> TestClient:
    return TestClient(create_app(state), base_url=LOCAL)


def _by_problem(state: ReviewState, needle: str) -> str:
    for e in state.queue:
        s = state.record(e.sample_id)
        if needle in s.user_text():
            return e.sample_id
    raise AssertionError(f"no record mentions {needle!r}")


def test_queue_lists_records_with_flags_and_status(client, state):
    r = client.get("/api/queue")
    assert r.status_code == 200
    body = r.json()
    assert len(body["items"]) == len(state.queue) == 9
    item = body["items"][0]
    assert set(item) >= {"sample_id", "flags", "status", "source", "category", "split"}
    untested = _by_problem(state, "human readable")
    flagged = {i["sample_id"]: i["flags"] for i in body["items"]}[untested]
    assert "unverified" in flagged
    assert body["progress"] == {"reviewed": 0, "total": 9, "records_in_bundle": 9, "per_reviewer": {},
                                "decisions": 0}
    only = client.get("/api/queue", params={"flag": "unverified"}).json()["items"]
    assert [i["sample_id"] for i in only] == [untested]
    assert client.get("/api/queue", params={"source": "code_review"}).json()["items"][0]["category"] == "review_repair"


def test_approve_is_stored_and_returned(client, state):
    sid = state.queue[0].sample_id
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "approve", "reviewer": "ann",
                                            "rubric": {"code_quality": 4, "teaching_value": 5}, "comment": "fine"})
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["sample_id"], d["decision"], d["reviewer"], d["rubric"], d["comment"]) == \
        (sid, "approve", "ann", {"code_quality": 4, "teaching_value": 5}, "fine")
    assert d["id"] >= 1 and d["decided_at"]
    rec = client.get(f"/api/records/{sid}").json()
    assert rec["status"] == "approve" and rec["decisions"][-1]["id"] == d["id"]
    assert rec["record"]["sample_id"] == sid
    queue = client.get("/api/queue", params={"status": "reviewed"}).json()
    assert [i["sample_id"] for i in queue["items"]] == [sid]
    assert queue["progress"]["per_reviewer"] == {"ann": 1}


def test_queue_reports_agreement_between_two_reviewers(client, state):
    ids = [e.sample_id for e in state.queue[:3]]
    for reviewer, decisions in (("ann", "arr"), ("bob", "ara")):
        for sid, d in zip(ids, decisions):
            body = {"sample_id": sid, "reviewer": reviewer, "decision": {"a": "approve", "r": "reject"}[d],
                    "reason": "duplicate"}
            assert client.post("/api/decisions", json=body).status_code == 200
    agreement = client.get("/api/queue").json()["agreement"]
    # ann A R R, bob A R A: p_o 2/3, p_e 4/9 -> kappa 0.4
    assert agreement["cohen_kappa"] == 0.4 and agreement["records_with_two_or_more_reviewers"] == 3
    assert "Cohen's kappa): 0.4" in client.get("/").text


def test_unknown_sample_id(client):
    r = client.post("/api/decisions", json={"sample_id": "no-such-id", "decision": "approve", "reviewer": "ann"})
    assert r.status_code == 404
    assert "unknown sample_id 'no-such-id'" in r.json()["error"]
    assert client.get("/api/records/no-such-id").status_code == 404


def test_bad_decision_value(client, state):
    r = client.post("/api/decisions", json={"sample_id": state.queue[0].sample_id, "decision": "maybe",
                                            "reviewer": "ann"})
    assert r.status_code == 422
    assert r.json()["error"].startswith("decision:") and "'approve', 'reject' or 'edit'" in r.json()["error"]


def test_reject_without_a_reason(client, state):
    sid = state.queue[0].sample_id
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "reject", "reviewer": "ann"})
    assert r.status_code == 422 and "a reject needs a reason" in r.json()["error"]
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "reject", "reviewer": "ann",
                                            "reason": "i do not like it"})
    assert r.status_code == 422 and "unknown reject reason" in r.json()["error"]
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "reject", "reviewer": "ann",
                                            "reason": "unrealistic_scenario", "comment": "nobody does this"})
    assert r.status_code == 200 and r.json()["reason"] == "unrealistic_scenario"


def test_edit_whose_solution_fails_its_tests_is_not_saved(client, state):
    sid = _by_problem(state, "clamps an integer")
    broken = "def clamp(n, lo, hi):\n    return n\n"
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "edit", "reviewer": "ann",
                                            "edited_solution": broken})
    assert r.status_code == 422
    assert r.json()["error"].startswith("edited solution fails its tests (failed")
    assert client.get(f"/api/records/{sid}").json()["decisions"] == []


def test_edit_that_passes_is_saved_with_its_verdict_and_the_answer_follows(client, state):
    sid = _by_problem(state, "clamps an integer")
    fixed = "def clamp(n, lo, hi):\n    return max(lo, min(n, hi))\n"
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "edit", "reviewer": "bob",
                                            "edited_solution": fixed})
    assert r.status_code == 200, r.text
    assert r.json()["verification"]["status"] == "passed"
    assert r.json()["edited_solution"] == fixed


def test_edit_of_a_record_without_tests_is_saved_unverified(client, state):
    sid = _by_problem(state, "human readable")
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "edit", "reviewer": "ann",
                                            "edited_solution": "def human_bytes(n):\n    return f'{n} B'\n"})
    assert r.status_code == 200, r.text
    assert r.json()["verification"]["status"] == "unverified"


def test_edited_messages_may_change_only_assistant_turns(client, state):
    sid = state.queue[0].sample_id
    msgs = client.get(f"/api/records/{sid}").json()["record"]["messages"]
    user_changed = [dict(m, content="something else") if m["role"] == "user" else m for m in msgs]
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "edit", "reviewer": "ann",
                                            "edited_messages": user_changed})
    assert r.status_code == 422 and "only assistant messages can be edited" in r.json()["error"]
    answer_changed = [dict(m, content="A clearer answer.") if m["role"] == "assistant" else m for m in msgs]
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "edit", "reviewer": "ann",
                                            "edited_messages": answer_changed})
    assert r.status_code == 200 and r.json()["verification"] is None  # the solution did not change


def test_missing_reviewer_and_bad_bodies(client, state):
    sid = state.queue[0].sample_id
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "approve"})
    assert r.status_code == 422 and "reviewer is required" in r.json()["error"]
    r = client.post("/api/decisions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "approve", "reviewer": "a",
                                            "rubric": {"code_quality": 9}})
    assert r.status_code == 422 and "rubric.code_quality" in r.json()["error"]


def test_missing_token_when_one_is_required(state):
    app = create_app(state, token="s3cret-token", loopback_only=False)
    anon = TestClient(app, base_url="http://192.0.2.10:8765")
    for path in ("/api/queue", "/", "/static/review.js"):
        r = anon.get(path)
        assert r.status_code == 401 and "missing or wrong token" in r.json()["error"]
    r = anon.post("/api/decisions", json={"sample_id": state.queue[0].sample_id, "decision": "approve",
                                          "reviewer": "ann"})
    assert r.status_code == 401
    assert anon.get("/api/queue", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert anon.get("/api/queue", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    # The printed URL carries ?token=: answered with an HttpOnly cookie and a redirect without it.
    r = anon.get("/?token=s3cret-token&flag=unverified", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?flag=unverified"
    assert "codesft_review_token=s3cret-token" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    assert anon.get("/api/queue").status_code == 200  # the client keeps the cookie


def test_post_is_closed_to_cross_site_requests(client, state):
    ok = {"sample_id": state.queue[0].sample_id, "decision": "approve", "reviewer": "ann"}
    r = client.post("/api/decisions", json=ok, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and "cross-site" in r.json()["error"]
    r = client.post("/api/decisions", json=ok, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Origin http://evil.example" in r.json()["error"]
    # What an HTML form on another site can send without a preflight: refused.
    r = client.post("/api/decisions", content=b"sample_id=x&decision=approve",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    r = client.post("/api/decisions", json=ok, headers={"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    assert client.get("/api/decisions").status_code == 405


def test_loopback_server_refuses_foreign_host_names(state):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    r = TestClient(create_app(state), base_url="http://evil.example:8765").get("/api/queue")
    assert r.status_code == 400 and "Host" in r.json()["error"]
    assert TestClient(create_app(state), base_url="http://localhost:8765").get("/api/queue").status_code == 200


def test_pages_send_a_strict_content_security_policy(client, state):
    for path in ("/", f"/records/{state.queue[0].sample_id}", "/api/queue", "/static/review.js"):
        csp = client.get(path).headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_record_text_is_rendered_as_text(client, state, listener):
    sid = _by_problem(state, "reverses a list")
    page = client.get(f"/records/{sid}").text
    assert "<script>fetch" not in page and "<img src=" not in page and "<meta http-equiv" not in page
    assert str(escape(f'<script>fetch("http://127.0.0.1:{listener.port}/script")</script>')) in page
    # The solution (Pygments) escapes it too.
    assert page.count("&lt;script&gt;") >= 3  # user message, assistant answer, solution comment
    assert page.count("<script") == 1  # the app's own /static/review.js


def test_rerun_in_the_sandbox(client, state):
    sid = _by_problem(state, "counts the vowels")
    r = client.post("/api/verify", json={"sample_id": sid})
    assert r.status_code == 200 and r.json()["verification"]["status"] == "passed"
    r = client.post("/api/verify", json={"sample_id": sid, "solution": "def count_vowels(t):\n    return 0\n"})
    assert r.json()["verification"]["status"] == "failed"


def test_record_pages(client, state):
    sid = _by_problem(state, "Restocking")
    page = client.get(f"/records/{sid}").text
    assert 'id="repair-diff"' in page and "before (problem)" in page
    assert client.get("/records/nope").status_code == 404
    assert client.get("/").status_code == 200


def test_a_sandbox_fault_is_never_a_save(client, state, monkeypatch):
    """The harness failing is neither a pass nor a fail: 503 with the reason, and nothing is stored."""
    import codesft.sandbox

    def broken(*args, **kwargs):
        raise codesft.sandbox.SandboxUnavailable("no namespaces here")

    monkeypatch.setattr(codesft.sandbox.SandboxPool, "imap", broken)
    sid = _by_problem(state, "clamps an integer")
    fixed = "def clamp(n, lo, hi):\n    return min(max(n, lo), hi)\n"
    r = client.post("/api/decisions", json={"sample_id": sid, "decision": "edit", "reviewer": "ann",
                                            "edited_solution": fixed})
    assert r.status_code == 503 and "no namespaces here" in r.json()["error"]
    assert client.get(f"/api/records/{sid}").json()["decisions"] == []
    assert client.post("/api/verify", json={"sample_id": sid}).status_code == 503
