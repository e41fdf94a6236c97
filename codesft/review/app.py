"""The review web app (FastAPI + server-rendered Jinja2 templates; everything it loads, it serves).

Pages: `/` (the queue, with filters and progress) and `/records/{sample_id}` (one record). The pages
read and write through the JSON API documented in docs/review.md: `GET /api/queue`,
`GET /api/records/{sample_id}`, `POST /api/decisions`, and `POST /api/verify` (re-run in the sandbox).
Record content is untrusted: templates autoescape it (nothing from a record is marked safe; code is
escaped by Pygments), and security.py sets a strict Content-Security-Policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, ValidationError
from fastapi.concurrency import run_in_threadpool

from codesft.review import render
from codesft.review.agreement import agreement
from codesft.review.edits import EditError, HarnessError, apply_edit, check_saveable, has_tests, reverify
from codesft.review.security import guard
from codesft.review.state import FILTER_KEYS, ReviewState
from codesft.review.store import NewDecision
from codesft.schema import RubricScores, Sample

HERE = Path(__file__).parent
REJECT_REASONS = {
    "incorrect": "incorrect: the answer or code is wrong",
    "low_code_quality": "low code quality",
    "low_teaching_value": "low teaching value",
    "unrealistic_scenario": "unrealistic scenario",
    "unsafe": "unsafe code or advice",
    "sensitive_data": "sensitive data left in",
    "duplicate": "duplicate of another record",
    "off_topic": "off topic / not a code task",
    "other": "other (say why in the comment)",
}
RUBRIC = {"code_quality": "code quality", "teaching_value": "teaching value",
          "scenario_authenticity": "scenario authenticity"}


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_id: str
    decision: Literal["approve", "reject", "edit"]
    reason: str | None = None
    reviewer: str | None = None
    rubric: RubricScores | None = None
    comment: str | None = None
    edited_messages: list[dict[str, Any]] | None = None
    edited_solution: str | None = None


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_id: str
    solution: str | None = None


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise ApiError(422, "; ".join(problems)) from None


def _clean(text: str | None) -> str | None:
    return text.strip() or None if text is not None else None


class App:
    """Route handlers over one ReviewState."""

    def __init__(self, state: ReviewState):
        self.state = state

    def sample_or_404(self, sample_id: str) -> Sample:
        s = self.state.record(sample_id)
        if s is None:
            raise ApiError(404, f"unknown sample_id {sample_id!r}: it is not in the review queue of "
                                f"{self.state.bundle.key}")
        return s

    def decide(self, body: DecisionIn) -> dict[str, Any]:
        s = self.sample_or_404(body.sample_id)
        reviewer = _clean(body.reviewer) or self.state.default_reviewer
        if not reviewer:
            raise ApiError(422, "reviewer is required (a name)")
        reason = _clean(body.reason)
        comment = _clean(body.comment)
        if body.decision == "reject":
            if reason is None:
                raise ApiError(422, f"a reject needs a reason, one of: {', '.join(REJECT_REASONS)}")
            if reason not in REJECT_REASONS:
                raise ApiError(422, f"unknown reject reason {reason!r}; use one of: {', '.join(REJECT_REASONS)}")
            if reason == "other" and comment is None:
                raise ApiError(422, "reason 'other' needs a comment saying why")
        edits_given = body.edited_messages is not None or body.edited_solution is not None
        if body.decision != "edit" and edits_given:
            raise ApiError(422, f"edited_messages / edited_solution go with decision 'edit', not {body.decision!r}")
        verification = None
        if body.decision == "edit":
            try:
                edited, fields = apply_edit(s, body.edited_messages, body.edited_solution)
                if "solution" in fields:
                    v = reverify(edited, self.state.bundle.config())
                    check_saveable(edited, v)
                    verification = v.model_dump(mode="json")
            except EditError as exc:
                raise ApiError(422, str(exc)) from None
            except HarnessError as exc:
                raise ApiError(503, str(exc)) from None
        stored = self.state.store.add(NewDecision(
            bundle=self.state.bundle.key, sample_id=s.sample_id, reviewer=reviewer, decision=body.decision,
            reason=reason, comment=comment,
            rubric=body.rubric.model_dump(exclude_none=True) or None if body.rubric else None,
            edited_messages=body.edited_messages, edited_solution=body.edited_solution, verification=verification))
        return stored.to_dict()

    def verify(self, body: VerifyIn) -> dict[str, Any]:
        s = self.sample_or_404(body.sample_id)
        if body.solution is not None:
            try:
                s, _ = apply_edit(s, None, body.solution)
            except EditError as exc:
                raise ApiError(422, str(exc)) from None
        try:
            v = reverify(s, self.state.bundle.config())
        except HarnessError as exc:
            raise ApiError(503, str(exc)) from None
        return {"sample_id": s.sample_id, "has_tests": has_tests(s), "verification": v.model_dump(mode="json")}

    def queue(self, filters: dict[str, str | None]) -> dict[str, Any]:
        entries, status, decisions = self.state.filtered(filters)
        reviewers: dict[str, set[str]] = {}
        for d in decisions:
            reviewers.setdefault(d.sample_id, set()).add(d.reviewer)
        items = [{**e.to_dict(), "status": status[e.sample_id], "reviewers": sorted(reviewers.get(e.sample_id, ()))}
                 for e in entries]
        return {"bundle": self.state.bundle.key, "filters": {k: v for k, v in filters.items() if v},
                "items": items, "progress": self.state.progress(decisions), "facets": self.state.facets(),
                "agreement": agreement(decisions),
                "sample": {"share": self.state.share, "seed": self.state.seed,
                           "strata": "source kind, category, split"}}

    def record(self, sample_id: str) -> dict[str, Any]:
        s = self.sample_or_404(sample_id)
        e = self.state.by_id[sample_id]
        decisions = [d.to_dict() for d in self.state.decisions(sample_id)]
        return {**e.to_dict(), "status": decisions[-1]["decision"] if decisions else "unreviewed",
                "has_tests": has_tests(s), "decisions": decisions, "record": s.model_dump(mode="json")}


def _filters(request: Request) -> dict[str, str | None]:
    return {k: request.query_params.get(k) or None for k in FILTER_KEYS}


def _record_context(api: App, sample_id: str, filters: dict[str, str | None]) -> dict[str, Any]:
    data = api.record(sample_id)
    s = api.state.record(sample_id)
    entries, _, decisions = api.state.filtered(filters)
    ids = [e.sample_id for e in entries]
    query = urlencode({k: v for k, v in filters.items() if v})
    link = lambda sid: f"/records/{sid}" + (f"?{query}" if query else "")  # noqa: E731
    pos = ids.index(sample_id) if sample_id in ids else None
    lang = s.code.language if s.code else s.metadata.language
    ctx: dict[str, Any] = {
        "s": s, "data": data, "filters": filters, "queue_url": "/" + (f"?{query}" if query else ""),
        "position": None if pos is None else pos + 1, "count": len(ids),
        "prev_url": link(ids[pos - 1]) if pos else "",
        "next_url": link(ids[pos + 1]) if pos is not None and pos + 1 < len(ids) else "",
        "progress": api.state.progress(decisions), "reasons": REJECT_REASONS, "rubric": RUBRIC,
        "solution_html": render.code_html(s.code.solution if s.code else None, lang),
        "tests_html": render.code_html(s.code.tests if s.code else None, lang),
        "repair_diff": None, "fault_diff": None,
    }
    if s.code and s.code.before and s.code.solution:
        ctx["repair_diff"] = render.diff_html(s.code.before, s.code.solution, "before (problem)", "after (fix)")
    if s.fault and s.code and s.code.solution:
        f = s.fault
        ctx["fault_diff"] = render.diff_html(s.code.solution, f.incorrect, "correct", "incorrect")
        ctx["fault_correct"] = render.spans_html(s.code.solution, f.correct_spans.token or f.correct_spans.line)
        ctx["fault_incorrect"] = render.spans_html(f.incorrect, f.incorrect_spans.token or f.incorrect_spans.line)
    return ctx


def create_app(state: ReviewState, token: str | None = None, loopback_only: bool = True) -> FastAPI:
    """The ASGI app. `token` (required when serving a non-loopback address) is checked on every request."""
    app = FastAPI(title="codesft review", docs_url=None, redoc_url=None, openapi_url=None)
    api = App(state)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    templates = Jinja2Templates(env=env)
    app.middleware("http")(guard(token, loopback_only))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.get("/static/highlight.css")
    def highlight_css() -> Response:
        return Response(render.stylesheet(), media_type="text/css")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/api/queue")
    def get_queue(request: Request) -> dict[str, Any]:
        return api.queue(_filters(request))

    @app.get("/api/records/{sample_id}")
    def get_record(sample_id: str) -> dict[str, Any]:
        return api.record(sample_id)

    @app.post("/api/decisions")
    async def post_decision(request: Request) -> dict[str, Any]:
        body = _parse(DecisionIn, await request.body())
        return await run_in_threadpool(api.decide, body)  # the sandbox run and the SQLite commit block

    @app.post("/api/verify")
    async def post_verify(request: Request) -> dict[str, Any]:
        body = _parse(VerifyIn, await request.body())
        return await run_in_threadpool(api.verify, body)

    @app.get("/", response_class=HTMLResponse)
    def queue_page(request: Request) -> Response:
        filters = _filters(request)
        data = api.queue(filters)
        query = urlencode({k: v for k, v in filters.items() if v})
        return templates.TemplateResponse(request, "queue.html", {
            "data": data, "filters": filters, "query": query, "flag_counts": state.flag_counts(),
            "default_reviewer": state.default_reviewer or ""})

    @app.get("/records/{sample_id}", response_class=HTMLResponse)
    def record_page(request: Request, sample_id: str) -> Response:
        try:
            ctx = _record_context(api, sample_id, _filters(request))
        except ApiError as exc:
            return templates.TemplateResponse(request, "error.html", {"message": exc.message},
                                              status_code=exc.status)
        ctx["default_reviewer"] = state.default_reviewer or ""
        return templates.TemplateResponse(request, "record.html", ctx)

    return app
