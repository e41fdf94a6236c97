from codesft.evaluate.sanitize import completion_program, extract_code, instruct_program, strip_thinking

FENCE = "`" * 3


def test_extracts_fenced_function_and_drops_test_code_and_thinking():
    answer = (f"<think>maybe {FENCE}python\ndef add(a, b): return 0\n{FENCE}</think>Sure! Here it is:\n"
              f"{FENCE}python\nimport math\nK = 2\nUNUSED = print('x')\n\ndef helper(x):\n    return x * K\n\n"
              f"def add(a, b):\n    return helper(a) // K + b\n\nprint(add(1, 2))\nassert add(1, 1) == 2\n"
              f"if __name__ == '__main__':\n    add(0, 0)\n{FENCE}\nThis works because ...")
    code = extract_code(answer, "add")
    assert "return 0" not in code            # the thinking block's draft is gone
    assert "import math" in code and "K = 2" in code and "def helper" in code
    assert "print(" not in code and "assert" not in code and "__main__" not in code
    ns = {}
    exec(code, ns)
    assert ns["add"](3, 4) == 7


def test_picks_the_block_that_defines_the_entry_point_and_keeps_other_imports():
    answer = (f"{FENCE}python\nfrom typing import List\n{FENCE}\nand\n{FENCE}bash\npip install x\n{FENCE}\n"
              f"{FENCE}python\ndef f(xs: List[int]) -> int:\n    return sum(xs)\n{FENCE}")
    code = extract_code(answer, "f")
    assert "from typing import List" in code and "pip" not in code
    ns = {}
    exec(code, ns)
    assert ns["f"]([1, 2]) == 3


def test_unfenced_chatter_and_unclosed_thinking():
    assert "def f(x)" in extract_code("Here is code:\ndef f(x):\n    return x\nHope it helps!", "f")
    assert strip_thinking("<think>never closed ... def f(): pass") == ""
    assert extract_code("", "f") == "" and extract_code("I cannot help with that.", "f") == ""


def test_completion_mode_cuts_at_stops_and_falls_back_to_a_restated_function():
    prompt = "from typing import List\n\ndef f(xs: List[int]) -> int:\n"
    prog, how = completion_program(prompt, "    return len(xs)\n\ndef g():\n    pass\n", "f", ["\ndef "])
    assert how == "prompt+completion" and "def g" not in prog
    restated = f"{FENCE}python\ndef f(xs: List[int]) -> int:\n    return 1\n{FENCE}"
    prog, how = completion_program(prompt, restated, "f", ["\ndef "])
    assert how == "extracted-function" and prog.startswith("from typing import List")
    assert instruct_program("no code here", "f") == ""
