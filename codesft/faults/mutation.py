"""Rule-based AST mutation: incorrect-but-similar variants of a Python solution, offline.

Mutations are found on the AST but applied as minimal *text* edits at the node's source
position, so the variant keeps the original's formatting and comments and differs only where
the bug is (ast.unparse would reformat the whole file and bloat the diff spans). Every variant is
re-parsed and compiled; a variant that does not compile, or equals the original, is discarded.
Deterministic: the sites are enumerated in AST order and sampled with a seeded RNG.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

OPERATORS = (
    "compare_swap", "boolean_swap", "arithmetic_swap", "off_by_one", "constant_change",
    "negate_condition", "drop_condition", "swap_arguments", "return_value", "remove_statement",
)

_CMP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==",
        "in": "not in", "not in": "in", "is": "is not", "is not": "is"}
_CMP_RE = re.compile(r"not\s+in\b|is\s+not\b|\bin\b|\bis\b|<=|>=|==|!=|<|>")
_ARITH = {"+": "-", "-": "+", "*": "//", "//": "*", "/": "*", "%": "//", "**": "*"}
_ARITH_RE = re.compile(r"\*\*|//|[+\-*/%]")
_BOOL = {"and": "or", "or": "and"}
_BOOL_RE = re.compile(r"\b(and|or)\b")


@dataclass(frozen=True)
class Variant:
    code: str
    operator: str
    detail: str = ""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str
    operator: str
    detail: str


class _Source:
    """Maps AST (line, utf-8 byte column) positions to character offsets."""

    def __init__(self, code: str):
        self.code = code
        self.lines = code.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def text(self, node: ast.AST) -> str:
        s, e = self.span(node)
        return self.code[s:e]

    def line_range(self, first: int, last: int) -> tuple[int, int]:
        return self.starts[first - 1], self.starts[min(last, len(self.lines))]


def _shift(src: _Source, node: ast.expr, delta: int) -> str:
    """`node` plus/minus one, folded when it is an integer literal (range(n) -> range(n + 1), x[0] -> x[1])."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, RecursionError):
        value = None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value + delta)
    text = src.text(node)
    if not isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.Constant)):
        text = f"({text})"
    return f"{text} + 1" if delta > 0 else f"{text} - 1"


def _gap_edits(src: _Source, left: ast.AST, right: ast.AST, pattern: re.Pattern, table: dict, operator: str):
    gap_start, gap_end = src.span(left)[1], src.span(right)[0]
    gap = src.code[gap_start:gap_end]
    m = pattern.search(gap)
    if m is None:
        return
    op = re.sub(r"\s+", " ", m.group(0))
    if op in table:
        yield _Edit(gap_start + m.start(), gap_start + m.end(), table[op], operator, f"{op} -> {table[op]}")


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _statement_bodies(tree: ast.AST):
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                yield node, field, body


def _whole_lines(src: _Source, node: ast.stmt) -> bool:
    """True when the statement owns its lines (no `a = 1; b = 2` sharing), so removing them is clean."""
    first = src.lines[node.lineno - 1]
    last = src.lines[node.end_lineno - 1]
    indent = len(first) - len(first.lstrip())
    tail = last.encode("utf-8")[node.end_col_offset:].decode("utf-8", errors="ignore").strip()
    return len(first[:indent].encode("utf-8")) == node.col_offset and (not tail or tail.startswith("#"))


# size: one branch per mutation operator, each a few lines; splitting them apart would scatter the operator table
def _edits(src: _Source, tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for a, b in zip(operands, operands[1:]):
                yield from _gap_edits(src, a, b, _CMP_RE, _CMP, "compare_swap")
        elif isinstance(node, ast.BoolOp):
            for a, b in zip(node.values, node.values[1:]):
                yield from _gap_edits(src, a, b, _BOOL_RE, _BOOL, "boolean_swap")
        elif isinstance(node, ast.BinOp) and not isinstance(node.op, (ast.BitOr, ast.BitAnd, ast.BitXor, ast.MatMult)):
            yield from _gap_edits(src, node.left, node.right, _ARITH_RE, _ARITH, "arithmetic_swap")
        elif isinstance(node, ast.AugAssign):
            yield from _gap_edits(src, node.target, node.value, _ARITH_RE, _ARITH, "arithmetic_swap")
        elif isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else None
            if fn == "range" and node.args and not node.keywords:
                stop = node.args[0] if len(node.args) == 1 else node.args[1]
                s, e = src.span(stop)
                for d in (1, -1):
                    yield _Edit(s, e, _shift(src, stop, d), "off_by_one", f"range bound {d:+d}")
            positional = [a for a in node.args if not isinstance(a, ast.Starred)]
            if len(positional) == len(node.args) >= 2:
                a, b = node.args[0], node.args[1]
                ta, tb = src.text(a), src.text(b)
                if ta != tb:
                    (sa, ea), (sb, eb) = src.span(a), src.span(b)
                    # One edit covering both arguments keeps the text between them (comma, spaces).
                    yield _Edit(sa, eb, tb + src.code[ea:sb] + ta, "swap_arguments", f"{ta} <-> {tb}")
        elif isinstance(node, ast.Subscript):
            sl = node.slice
            if isinstance(sl, ast.Slice):
                for bound in (sl.lower, sl.upper):
                    if bound is not None:
                        s, e = src.span(bound)
                        for d in (1, -1):
                            yield _Edit(s, e, _shift(src, bound, d), "off_by_one", f"slice bound {d:+d}")
            elif not (isinstance(sl, ast.Constant) and isinstance(sl.value, str)) and not isinstance(sl, ast.Tuple):
                if isinstance(node.ctx, ast.Load):
                    s, e = src.span(sl)
                    for d in (1, -1):
                        yield _Edit(s, e, _shift(src, sl, d), "off_by_one", f"index {d:+d}")
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool) and hasattr(node, "lineno"):
            s, e = src.span(node)
            if isinstance(node.value, bool):
                yield _Edit(s, e, str(not node.value), "constant_change", f"{node.value} -> {not node.value}")
            else:
                new = node.value + 1 if node.value != 1 else 0
                yield _Edit(s, e, repr(new), "constant_change", f"{node.value!r} -> {new!r}")
        elif isinstance(node, (ast.If, ast.While, ast.IfExp)) or (isinstance(node, ast.Assert)):
            test = node.test
            s, e = src.span(test)
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                yield _Edit(s, e, src.text(test.operand), "negate_condition", "drop not")
            else:
                yield _Edit(s, e, f"not ({src.text(test)})", "negate_condition", "not (...)")
            if isinstance(node, ast.If) and node.orelse and not (len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If)
                                                                  and node.orelse[0].col_offset == node.col_offset
                                                                  and node.orelse[0].lineno == node.body[-1].end_lineno + 1
                                                                  and src.lines[node.orelse[0].lineno - 1].lstrip().startswith("elif")):
                # Drop the else branch: from the `else:` line through the end of the branch.
                else_line = next((ln for ln in range(node.orelse[0].lineno - 1, node.body[-1].end_lineno, -1)
                                  if src.lines[ln - 1].strip().startswith("else")), None)
                if else_line is not None and _whole_lines(src, node.orelse[-1]):
                    s2, e2 = src.line_range(else_line, node.orelse[-1].end_lineno)
                    yield _Edit(s2, e2, "", "drop_condition", "drop else branch")
        elif isinstance(node, ast.Return) and node.value is not None:
            s, e = src.span(node.value)
            v = node.value
            if isinstance(v, ast.Constant) and isinstance(v.value, bool):
                new = str(not v.value)
            elif isinstance(v, ast.Constant) and v.value is None:
                continue
            elif isinstance(v, (ast.Compare, ast.BoolOp)) or (isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.Not)):
                new = f"not {src.text(v)}" if not isinstance(v, ast.BoolOp) else f"not ({src.text(v)})"
            else:
                new = "None"
            yield _Edit(s, e, new, "return_value", f"return {new}")
    for parent, field, body in _statement_bodies(tree):
        real = [st for st in body if not _is_docstring(st)]
        if len(real) < 2:
            continue
        for st in real:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
                continue
            if not _whole_lines(src, st):
                continue
            s, e = src.line_range(st.lineno, st.end_lineno)
            op = "drop_condition" if isinstance(st, ast.If) else "remove_statement"
            yield _Edit(s, e, "", op, f"remove line {st.lineno}")


def _valid(code: str) -> bool:
    try:
        compile(code, "<variant>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def all_mutations(code: str) -> list[Variant]:
    """Every distinct, compilable single-edit variant, in AST order. [] when the code does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    src = _Source(code)
    seen = {code}
    out: list[Variant] = []
    for edit in _edits(src, tree):
        variant = code[:edit.start] + edit.text + code[edit.end:]
        if variant in seen or not _valid(variant):
            continue
        seen.add(variant)
        out.append(Variant(variant, edit.operator, edit.detail))
    return out


def mutate(code: str, k: int = 3, seed: int = 0, key: str = "") -> list[Variant]:
    """Up to k variants, spread over operator classes (round-robin over a seeded shuffle).

    `key` (e.g. the sample id) makes the choice differ between samples while staying reproducible.
    """
    candidates = all_mutations(code)
    rng = random.Random(f"{seed}:{key}")
    by_op: dict[str, list[Variant]] = {}
    for v in candidates:
        by_op.setdefault(v.operator, []).append(v)
    ops = sorted(by_op)
    rng.shuffle(ops)
    for op in ops:
        rng.shuffle(by_op[op])
    picked: list[Variant] = []
    while len(picked) < k and any(by_op[op] for op in ops):
        for op in ops:
            if by_op[op] and len(picked) < k:
                picked.append(by_op[op].pop())
    return picked
