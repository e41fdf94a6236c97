
from codesft.train.data import IGNORE, encode, encode_all, hybrid_mask, overlap_mask, render


def _masked_text(tok, ids, mask, value=None):
    return "".join(tok.decode([i]) for i, m in zip(ids, mask) if (m if value is None else m == value))


def test_overlap_and_hybrid_masks_on_hand_made_offsets():
    offsets = [(0, 3), (3, 4), (4, 10), (10, 12), (12, 12)]
    assert overlap_mask(offsets, [(3, 5)]) == [0, 1, 1, 0, 0]
    assert overlap_mask(offsets, [(0, 1), (11, 20)]) == [1, 0, 0, 1, 0]
    assert hybrid_mask(offsets, line=[(3, 12)], token=[(4, 5)]) == [0, 1, 2, 1, 0]
    assert hybrid_mask(offsets, line=[(3, 12)], token=[(4, 5)], mode="line") == [0, 2, 2, 2, 0]
    assert hybrid_mask(offsets, line=[(3, 12)], token=[(4, 5)], mode="token") == [0, 0, 2, 0, 0]


def test_labels_are_the_assistant_turn_only(tokenizer, sample_factory):
    s = sample_factory("Is n small?", "def small(n):\n    return n < 3\n", sid="x")
    e = encode(s, tokenizer, 256)
    assert e.problems == []
    labelled = tokenizer.decode([t for t in e.labels if t != IGNORE])
    assert labelled == s.messages[-1].content + "<|im_end|>"


def test_span_to_token_mapping_on_the_full_templated_text(tokenizer, sample_factory):
    s = sample_factory("Is n small?", "def small(n):\n    return n < 3\n", "def small(n):\n    return n <= 3\n")
    e = encode(s, tokenizer, 256, with_fault=True)
    assert e.problems == []
    # value 2: the token holding the insertion point (" 3" after "<") / the inserted "="
    assert _masked_text(tokenizer, e.input_ids, e.mask, 2) == " 3"
    assert _masked_text(tokenizer, e.incorrect_input_ids, e.incorrect_mask, 2) == "="
    # values >= 1: exactly the tokens overlapping the changed line (the first one also carries its leading newline)
    assert _masked_text(tokenizer, e.input_ids, e.mask).strip("\n") == "    return n < 3"
    assert _masked_text(tokenizer, e.incorrect_input_ids, e.incorrect_mask).strip("\n") == "    return n <= 3"
    # nothing outside the code and nothing outside the labels is masked
    assert all(lab != IGNORE for lab, m in zip(e.labels, e.mask) if m)


def test_spans_map_when_the_message_holds_the_stripped_code(tokenizer, sample_factory):
    s = sample_factory("Add.", "\ndef add(a, b):\n    return a + b\n", "\ndef add(a, b):\n    return a - b\n", wrap=False)
    s.messages[-1].content = s.code.solution.strip()
    e = encode(s, tokenizer, 256, with_fault=True)
    assert e.problems == []
    assert _masked_text(tokenizer, e.input_ids, e.mask, 2) == " +"


def test_template_without_generation_markers_finds_the_turns(tokenizer, sample_factory):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    s = sample_factory("Add.", "def add(a, b):\n    return a + b\n", sid="y")
    text, spans = render(tok, [m.model_dump() for m in s.messages])
    assert [text[a:b] for a, b in spans] == [s.messages[-1].content + "<|im_end|>"]
    assert encode(s, tok, 256).problems == []


def test_weight_zero_turns_get_no_labels(tokenizer, sample_factory):
    from codesft.schema import Message

    s = sample_factory("Add.", "def add(a, b):\n    return a + b\n", sid="z")
    s.messages[1:1] = [Message(role="user", content="hello"), Message(role="assistant", content="CONTEXT ONLY", weight=0)]
    e = encode(s, tokenizer, 256)
    assert "CONTEXT" not in tokenizer.decode([t for t in e.labels if t != IGNORE])


def test_preflight_catches_an_empty_assistant_mask(tokenizer, pair_samples):
    import copy

    tok = copy.deepcopy(tokenizer)
    # The classic silent failure: the generation block wraps nothing, so no token is ever a label.
    tok.chat_template = tok.chat_template.replace(
        "{% generation %}{{ message['content'] }}<|im_end|>{% endgeneration %}",
        "{{ message['content'] }}<|im_end|>{% generation %}{% endgeneration %}")
    _, report = encode_all(pair_samples, tok, 256, with_fault=False)
    assert not report.passed and report.ok == 0
    assert "empty assistant mask" in report.summary()


def test_preflight_catches_code_cut_by_max_length_and_missing_code(tokenizer, pair_samples):
    _, report = encode_all(pair_samples, tokenizer, 40, with_fault=True)
    assert not report.passed and "cut by max_length=40" in report.summary()
    bad = pair_samples[0].model_copy(deep=True)
    bad.messages[-1].content = "I will not show the code."
    _, report = encode_all([bad], tokenizer, 256, with_fault=True)
    assert "code is not inside a trained assistant turn" in report.summary()


def test_preflight_passes_and_counts(tokenizer, pair_samples, sample_factory):
    extra = sample_factory("Say hi.", "print('hi')\n", sid="nofault")
    encoded, report = encode_all(pair_samples + [extra], tokenizer, 256, with_fault=True, pairs_only=True)
    assert report.passed, report.summary()
    assert report.records == len(pair_samples) and report.skipped_without_fault == 1
    assert report.masked_tokens > 0 and all(any(e.mask) and any(e.incorrect_mask) for e in encoded)
