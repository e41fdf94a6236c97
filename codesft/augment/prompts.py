"""The teacher's prompts, one template per strategy (and per Evol-Instruct operation / rephrase style), the answer
format they ask for, and the hash of the templates that every augmented record carries.

The templates follow Evol-Instruct (Xu et al., 2023) and its code adaptation in WizardCoder (Luo et al., 2023):
in-depth operations (add constraints, deepen, concretize, require more reasoning steps) and in-breadth
(broaden: a new, rarer task of the same domain). Unlike Evol-Instruct, the teacher writes the solution and
tests with the task, and keeps the function name, so that the sandbox can check the three (docs/augment.md).
"""

from __future__ import annotations

import hashlib
import json
import zlib

SYSTEM = ("You are an expert programmer who writes programming exercises with reference solutions and unit tests. "
          "Follow the answer format exactly.")

# The answer format of the strategies that write a new task (evol, harder, easier) and of translate.
FORMAT = """Answer in exactly this format: the three headers below, in this order, and nothing else.

### Instruction
<the task, in plain prose, for a programmer who has not seen the original; it names the function `{entry_point}` and says what it takes and returns>

### Solution
```{fence}
<a complete solution that defines `{entry_point}`>
```

### Tests
```{fence}
{tests_hint}
```"""

TESTS_HINT = {
    "python": "<plain `assert` statements that call `{entry_point}`, including edge cases>",
    "javascript": "<statements that call `{entry_point}` and throw on a wrong result, with Node's assert module: "
                  "const assert = require('node:assert'); assert.deepStrictEqual({entry_point}(...), ...);>",
}

REPHRASE_FORMAT = """Answer in exactly this format and nothing else:

### Instruction
<the rewritten task>"""

# Rephrase styles: candidate i of a record uses style i mod the number of styles, so the n paraphrases differ
# by design rather than by sampling noise alone.
REPHRASE_STYLES: dict[str, str] = {
    "plain": "in different words",
    "concise": "in fewer words",
    "conversational": "as a colleague would ask for it in a chat message",
    "formal": "as a formal specification",
    "behaviour_first": "starting with the expected behaviour on an example, then the requirements",
}

REPHRASE = """Rewrite the programming task below {style}. Keep its meaning exactly: the same inputs, outputs, edge cases and requirements, and the function name `{entry_point}`. Keep any code, examples and test cases verbatim. Do not solve the task.

Task:
{instruction}

""" + REPHRASE_FORMAT

# In-depth and in-breadth operations of Evol-Instruct, worded for code tasks.
EVOL_OPERATIONS: dict[str, str] = {
    "add_constraints": "Add one new constraint or requirement to the task (about 10 to 20 more words), one that "
                       "changes what a correct solution must do.",
    "deepen": "The task touches its topic only on the surface: make it go deeper, so that it asks for a more "
              "general or more demanding version of the same problem.",
    "concretize": "Replace a general concept of the task with a more specific one: concrete input formats, value "
                  "ranges, data structures or rules that change the expected results.",
    "increase_reasoning": "Rewrite the task so that solving it explicitly takes more reasoning steps (several "
                          "stages, or cases that interact).",
    "broaden": "Write a new task in the same domain as this one, rarer and of similar length and difficulty, that "
               "keeps the function name.",
}

DIFFICULTY = {
    "harder": "Write a harder version of the task: one that needs noticeably more steps or insight to solve (a "
              "more general input, more cases, a tighter requirement), still with one well-defined answer per input.",
    "easier": "Write an easier version of the task: a simpler, related problem that a beginner can solve (a "
              "narrower input, fewer cases, a simpler rule). It must ask for a different result than the original "
              "on some input, so that the original solution fails at least one of your tests.",
}

NEW_TASK = """{operation}

The original task:
{instruction}

Its reference solution:
```python
{solution}
```

The new task keeps the function name `{entry_point}`. Write the new task, a correct solution to it and tests of it. At least one test must fail for the original solution above.

""" + FORMAT

TRANSLATE = """Translate this Python programming task, its solution and its tests into {language_name} (Node.js). Keep the function name `{entry_point}` and the behaviour exactly, and translate every test; the instruction must ask for {language_name}.

The task:
{instruction}

The solution:
```python
{solution}
```

The tests:
```python
{tests}
```

""" + FORMAT

# Self-consistency: the new task alone, as a student would see it, solved again independently.
SOLVE = ("{instruction}\n\nWrite the Python function `{entry_point}` that solves this task. "
         "Answer with one Python code block.")

LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript"}
FENCES = {"python": "python", "javascript": "javascript"}


def rephrase_style(index: int) -> str:
    return list(REPHRASE_STYLES)[index % len(REPHRASE_STYLES)]


def evol_operation(sample_id: str, index: int, operations: list[str]) -> str:
    """Candidate `index` of a record: the operations in turn, from an offset fixed by the record's id, so the
    first candidates of different records do not all get the same operation."""
    return operations[(zlib.crc32(sample_id.encode()) + index) % len(operations)]


def _templates(strategy: str, operation: str, language: str) -> dict[str, str]:
    """The templates a candidate of (strategy, operation) is made from."""
    if strategy == "rephrase":
        return {"system": SYSTEM, "template": REPHRASE, "style": REPHRASE_STYLES[operation]}
    fmt = {"format": FORMAT, "tests_hint": TESTS_HINT[language]}
    if strategy == "translate":
        return {"system": SYSTEM, "template": TRANSLATE, **fmt}
    text = EVOL_OPERATIONS[operation] if strategy == "evol" else DIFFICULTY[strategy]
    return {"system": SYSTEM, "template": NEW_TASK, "operation": text, "solve": SOLVE, **fmt}


def template_sha256(strategy: str, operation: str, language: str = "python") -> str:
    """sha256 of the templates (not of the filled prompt): records made with the same templates share it, and a
    change of wording shows up as a new hash."""
    blob = json.dumps(_templates(strategy, operation, language), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def teacher_messages(strategy: str, operation: str, instruction: str, solution: str, tests: str,
                     entry_point: str, target_language: str = "javascript") -> list[dict[str, str]]:
    """The chat sent to the teacher for one candidate."""
    if strategy == "rephrase":
        user = REPHRASE.format(style=REPHRASE_STYLES[operation], entry_point=entry_point,
                               instruction=instruction.strip())
    else:
        # str.format fills the template only: braces in the task or the code are left as they are.
        language = target_language if strategy == "translate" else "python"
        fmt = {"entry_point": entry_point, "fence": FENCES[language], "instruction": instruction.strip(),
               "solution": solution.rstrip(), "tests_hint": TESTS_HINT[language].format(entry_point=entry_point)}
        if strategy == "translate":
            user = TRANSLATE.format(language_name=LANGUAGE_NAMES[language], tests=tests.rstrip(), **fmt)
        else:
            user = NEW_TASK.format(operation=_templates(strategy, operation, language)["operation"], **fmt)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def solve_messages(instruction: str, entry_point: str) -> list[dict[str, str]]:
    """The self-consistency request: the new task alone, without the teacher's solution or tests."""
    return [{"role": "user", "content": SOLVE.format(instruction=instruction.strip(), entry_point=entry_point)}]
