"""The teacher's answer, from text to (instruction, solution, tests).

The format (prompts.FORMAT) is Markdown: a header line per section, `### Instruction`, `### Solution`,
`### Tests`, the code of the last two in a fenced block. Parsing is lenient where models commonly drift and
strict where a guess would change the data:

- a header is any line that is only the section's name, with 1-6 `#`, or in `**bold**`, with or without a
  colon (`Instruction:`, `**Tests:**`, `## Test cases` is not one); names are case-insensitive, `Task` is an
  alias of `Instruction` and `Test` of `Tests`;
- the text before the first header (a preamble: "Sure, here it is") is ignored; a section named twice keeps
  its first occurrence;
- a code section takes its first fenced block; a section without a fence is taken whole only if it is code
  that parses (Python), never for other languages;
- a whole answer wrapped in one ```markdown fence is unwrapped first;
- an instruction that is the format's `<...>` placeholder echoed back is no instruction.

Anything else is `Unparseable`, with the reason: the candidate is dropped (`unparseable`), never repaired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codesft.pycode import parses

_HEADER = re.compile(r"^\s{0,3}(?:#{1,6}\s*)?(?:\*\*)?\s*(instruction|task|solution|tests?)\s*:?\s*(?:\*\*)?\s*:?\s*$",
                     re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"^\s*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^\s*```[ \t]*$", re.DOTALL | re.MULTILINE)
_WRAPPED = re.compile(r"^\s*```(?:markdown|md|text)?[ \t]*\n(.*)\n\s*```\s*$", re.DOTALL | re.IGNORECASE)
_ALIASES = {"task": "instruction", "test": "tests"}
_PLACEHOLDER = re.compile(r"^<[^<>]*>$", re.DOTALL)
# What tests must contain to assert anything: Python's assert statement; Node's assert module or a throw.
_ASSERTS = {"python": re.compile(r"\bassert\b"), "javascript": re.compile(r"\bassert\b|\bthrow\b")}


class Unparseable(ValueError):
    """The answer does not follow the format; the message says what is missing."""


@dataclass(frozen=True)
class Parsed:
    instruction: str
    solution: str = ""
    tests: str = ""


def sections(text: str) -> dict[str, str]:
    """Section name -> its text (without the header line), for the headers found outside fenced blocks (a
    `# Tests` comment inside the code is code, not a header)."""
    wrapped = _WRAPPED.match(text)
    if wrapped and _HEADER.search(wrapped.group(1)):
        text = wrapped.group(1)
    out: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []
    in_fence = False
    for line in [*text.splitlines(), "### end"]:
        head = None if in_fence else _HEADER.match(line)
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if head is None and line != "### end":
            body.append(line)
            continue
        if name is not None:
            out.setdefault(name, "\n".join(body).strip("\n"))
        name = _ALIASES.get(head.group(1).lower(), head.group(1).lower()) if head else None
        body = []
    return out


def _code(section: str, name: str, language: str) -> str:
    fence = _FENCE.search(section)
    if fence:
        code = fence.group(2)
    elif language == "python" and section.strip() and parses(section):
        code = section.strip("\n") + "\n"
    else:
        raise Unparseable(f"the {name} section holds no fenced code block")
    if not code.strip():
        raise Unparseable(f"the {name} code block is empty")
    if language == "python" and not parses(code):
        raise Unparseable(f"the {name} code does not parse")
    return code.rstrip() + "\n"


def parse_answer(text: str, need_code: bool, language: str = "python") -> Parsed:
    """The instruction (and, when `need_code`, the solution and tests in `language`) of a teacher's answer."""
    found = sections(text or "")
    missing = [s for s in ("instruction", *(("solution", "tests") if need_code else ())) if s not in found]
    if missing:
        raise Unparseable(f"no {' / '.join(f'### {m.title()}' for m in missing)} section")
    instruction = found["instruction"].strip()
    if not instruction:
        raise Unparseable("the instruction section is empty")
    if _PLACEHOLDER.match(instruction):  # small models echo the format's `<...>` placeholder back
        raise Unparseable("the instruction is the format's placeholder")
    if not need_code:
        return Parsed(instruction)
    solution, tests = _code(found["solution"], "solution", language), _code(found["tests"], "tests", language)
    if not _ASSERTS[language].search(tests):
        raise Unparseable("the tests assert nothing")
    return Parsed(instruction, solution, tests)
