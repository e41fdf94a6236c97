"""Server-side rendering of code and diffs to HTML.

Syntax highlighting is Pygments (BSD-2-Clause), run on the server: its HTML formatter escapes the code,
the page loads no highlighter from a CDN, and no record text ever reaches the browser as markup. Every
function here returns `Markup` built only from escaped record text and fixed tags.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from codesft.schema import CharSpan

CSS_CLASS = "hl"


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """Pygments' token colours for `.hl` blocks (served as /static/highlight.css)."""
    return HtmlFormatter(cssclass=CSS_CLASS, style="default").get_style_defs(f".{CSS_CLASS}")


def _lexer(language: str | None):
    try:
        return get_lexer_by_name(language or "text")
    except ClassNotFound:
        return TextLexer()


def code_html(code: str | None, language: str | None = "python") -> Markup:
    if not code:
        return Markup('<p class="muted">none</p>')
    return Markup(highlight(code, _lexer(language), HtmlFormatter(cssclass=CSS_CLASS)))


def diff_html(before: str, after: str, before_name: str, after_name: str) -> Markup:
    """A unified diff, highlighted by Pygments' diff lexer."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=before_name, tofile=after_name)
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if not text:
        return Markup('<p class="muted">no difference</p>')
    return Markup(highlight(text, DiffLexer(), HtmlFormatter(cssclass=CSS_CLASS)))


def spans_html(code: str, spans: list[CharSpan]) -> Markup:
    """The code with the given character spans in <mark> (the fault's error-sensitive spans)."""
    out, pos = [], 0
    for sp in sorted(spans, key=lambda x: x.start):
        start, end = max(sp.start, pos), min(sp.end, len(code))
        if start >= end:
            continue
        out.append(escape(code[pos:start]))
        out.append(Markup('<mark>') + escape(code[start:end]) + Markup('</mark>'))
        pos = end
    out.append(escape(code[pos:]))
    return Markup('<pre class="code spans">') + Markup("").join(out) + Markup("</pre>")
