"""Names as the views show them: predict's vocabulary tokens with their folded spaces and
spelled bytes made plain, and `weights show` labelling W_Q's and W_K's columns as explain does."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, I_LOVE_AI, invoke, ok

from attncli.render.predict import BYTE_CHARS, token_shown


@pytest.mark.parametrize(("token", "byte_level", "shown"), [
    ("Ġanimal", True, "␣animal"),  # GPT-2's space
    ("Ċ", True, "\\x0a"),  # GPT-2's newline
    ("ĉ", True, "\\x09"),  # a tab
    ("ĊĊ", True, "\\x0a\\x0a"),
    ("Ġ", True, "␣"),
    ("hello", True, "hello"),
    ("▁Paris", False, "␣Paris"),  # SentencePiece's word start
    ("▁New▁York", False, "␣New␣York"),
    ("Łódź", False, "Łódź"),  # letters of a SentencePiece vocabulary stay letters
    ("##ing", False, "##ing"),
])
def test_a_vocabulary_token_is_shown_as_the_text_it_stands_for(token: str, byte_level: bool,
                                                                shown: str) -> None:
    assert token_shown(token, byte_level) == shown


def test_the_byte_level_alphabet_spells_the_68_hidden_bytes_from_u0100() -> None:
    assert len(BYTE_CHARS) == 68
    assert BYTE_CHARS["Ā"] == "\x00" and BYTE_CHARS["Ġ"] == " " and BYTE_CHARS["Ċ"] == "\n"
    assert BYTE_CHARS["ġ"] == "\x7f" and BYTE_CHARS["Ń"] == "\xad"  # the last one: soft hyphen
    assert sorted(map(ord, BYTE_CHARS)) == list(range(256, 256 + 68))


def test_predict_shows_gpt2s_newline_and_space_tokens_plainly() -> None:
    out = ok(invoke("predict", "The animal was", "--model", str(FIXTURES / "gpt2-lm"), "--top",
                    "8"))
    top = [line.split()[1] for line in out.splitlines() if line[:5].strip().rstrip(".").isdigit()]
    assert "\\x0a" in top and "␣o" in top, top  # id 199 is Ċ, id 279 Ġo
    assert "Ċ" not in out and not any("Ġ" in name for name in top)
    assert "␣ marks the space" in out


def test_weights_show_labels_the_columns_as_explain_does() -> None:
    shown = ok(invoke("weights", "show", str(I_LOVE_AI)))
    explained = ok(invoke("explain", "I love AI", "-w", str(I_LOVE_AI), "--show", "w"))
    for header in ("q0    q1    q2    q3", "k0    k1    k2    k3", "v0    v1"):
        assert header in explained, explained
        assert header in shown, shown
