"""Human review of a bundle in the browser (`codesft review serve`) and its decisions written back as the
next bundle version (`codesft review apply`). See docs/review.md.

Python API: `ReviewState.load(...)` + `create_app(state)` (the ASGI app), `apply_reviews(bundle, db)`.
The web parts need the `review` extra (FastAPI, uvicorn, Jinja2, Pygments).
"""
