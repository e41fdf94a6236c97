"""Turn a model's raw answer into the program to run.

Instruct answers arrive wrapped in chatter, markdown fences and sometimes thinking blocks; completion answers
run on past the function. The sanitizer:

1. drops thinking blocks (`<think>...</think>`, also an unclosed one that runs to the end);
2. collects fenced code blocks (```python / ```py / ``` ...); with none, falls back to the longest run of lines
   that parses as Python (so "Here is the code:\\n def f(): ..." still works);
3. picks the block that defines the entry point (else the first that parses), and adds imports found in the
   other blocks;
4. keeps imports, functions, classes and the module-level assignments those use; drops test code, prints,
   `if __name__ == "__main__":` blocks and other top-level statements (they would run under the tests and can
   crash or hang a correct function).

The raw output is always stored beside the result, so a sanitizer mistake can be seen and re-scored.
"""

from __future__ import annotations

import ast
import re

from codesft.pycode import parses

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(</\1>|$)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|$)", re.S)
_NON_PY_LANGS = {"bash", "sh", "shell", "console", "text", "txt", "json", "yaml", "output", "plaintext"}


def strip_thinking(text: str) -> str:
    return _THINK.sub("", text)


def code_blocks(text: str) -> list[str]:
    blocks = []
    for m in _FENCE.finditer(text):
        lang, body = m.group(1).lower(), m.group(2)
        if lang in _NON_PY_LANGS:
            continue
        if body.strip():
            blocks.append(body)
    return blocks


def _longest_parsing_region(text: str) -> str:
    """Chatter around unfenced code: the longest contiguous run of lines that parses, starting at a line that
    looks like code. Quadratic in the worst case, but answers are at most a few hundred lines."""
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if re.match(r"(def |class |import |from |@|async def )", ln)]
    best = ""
    for s in starts:
        for e in range(len(lines), s, -1):
            chunk = "\n".join(lines[s:e])
            if len(chunk) <= len(best):
                break
            if parses(chunk):
                best = chunk
                break
    return best


def _defined_names(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _used_names(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _assigned_names(node: ast.stmt) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def keep_definitions(code: str) -> str:
    """Imports, defs, classes and the module-level assignments they (transitively) use; nothing else."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    kept_defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assigns = [n for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))]
    needed = _used_names(kept_defs)
    keep_assign: set[int] = set()
    changed = True
    while changed:  # constants used by constants used by functions
        changed = False
        for a in assigns:
            if id(a) not in keep_assign and _assigned_names(a) & needed:
                keep_assign.add(id(a))
                needed |= _used_names([a])
                changed = True
    lines = code.splitlines()
    out = []
    for node in tree.body:
        keep = isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
            or id(node) in keep_assign
        if keep:
            start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno]) - 1
            out.append("\n".join(lines[start:node.end_lineno]))
    return "\n".join(out) + "\n" if out else ""


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The program in an instruct-style answer (see the module docstring)."""
    text = strip_thinking(text or "")
    blocks = code_blocks(text)
    candidates = [b for b in blocks if parses(b)] or blocks
    if not candidates:
        region = text if parses(text) else _longest_parsing_region(text)
        candidates = [region] if region.strip() else []
    if not candidates:
        return ""
    chosen = candidates[0]
    if entry_point:
        pattern = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.M)
        for b in candidates:
            if pattern.search(b):
                chosen = b
                break
    extra_imports = []
    for b in candidates:
        if b is not chosen:
            extra_imports += [ln for ln in b.splitlines() if re.match(r"(import|from)\s+\w", ln)]
    code = "\n".join(dict.fromkeys(extra_imports)) + ("\n" if extra_imports else "") + chosen
    return keep_definitions(code) if parses(code) else code


def truncate_at_stops(text: str, stops: list[str]) -> str:
    cut = len(text)
    for s in stops:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def completion_program(prompt: str, completion: str, entry_point: str | None, stops: list[str]) -> tuple[str, str]:
    """Completion mode: (program, how). The program is prompt + completion cut at the stop sequences; when that
    does not parse and the answer holds a full function instead (instruct models often restate it in a fence),
    the extracted function is used, with the prompt's imports."""
    body = truncate_at_stops(completion, stops)
    program = prompt + body
    if parses(program) or not entry_point:
        return program, "prompt+completion"
    extracted = extract_code(completion, entry_point)
    if extracted and re.search(rf"def\s+{re.escape(entry_point)}\s*\(", extracted):
        imports = "".join(ln + "\n" for ln in prompt.splitlines() if re.match(r"(import|from)\s+\w", ln))
        return imports + extracted, "extracted-function"
    return program, "prompt+completion (does not parse)"


def instruct_program(answer: str, entry_point: str | None, prompt_imports: str = "") -> str:
    code = extract_code(answer, entry_point)
    if not code.strip():
        return ""
    # Answers often drop `from typing import List` that the prompt had; adding it back cannot break anything.
    return prompt_imports + code if prompt_imports else code
