"""tokens.py: the word-level tokenizer, character offsets, and --tokenizer FILE."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke, strict_json
from tokenizers import Tokenizer, pre_tokenizers, processors
from tokenizers.models import WordLevel

from attncli.errors import AttnError
from attncli.tokens import Token, encode, load_tokenizer, word_level


def as_tuples(tokens: list[Token]) -> list[tuple[str, int, int, int]]:
    return [(t.text, t.id, t.start, t.end) for t in tokens]


def test_words_and_punctuation_become_tokens_with_offsets() -> None:
    # "The animal was tired."
    #  0123456789012345678901
    assert as_tuples(word_level("The animal was tired.")) == [
        ("The", 1, 0, 3), ("animal", 2, 4, 10), ("was", 3, 11, 14), ("tired", 4, 15, 20),
        (".", 5, 20, 21),
    ]


def test_the_same_word_gets_the_same_id_and_ids_follow_first_appearance() -> None:
    # "the cat saw the  cat!?": the second "the" and "cat" reuse ids 1 and 2; "!?" is one token
    assert as_tuples(word_level("the cat saw the  cat!?")) == [
        ("the", 1, 0, 3), ("cat", 2, 4, 7), ("saw", 3, 8, 11), ("the", 1, 12, 15),
        ("cat", 2, 17, 20), ("!?", 4, 20, 22),
    ]


def test_ids_are_case_sensitive() -> None:
    assert [t.id for t in word_level("The the THE")] == [1, 2, 3]


@pytest.mark.parametrize("text", [
    "café naïve 3.14", "  leading and trailing  ", "注意力 机制", "a—b (c) 'd'", "x\ty\nz",
])
def test_offsets_are_character_offsets_that_slice_the_text_back(text: str) -> None:
    tokens = word_level(text)
    assert tokens
    for t in tokens:
        assert text[t.start:t.end] == t.text
    starts = [t.start for t in tokens]
    assert starts == sorted(starts)


def test_non_ascii_offsets_count_characters_not_bytes() -> None:
    # "café" is 4 characters (5 UTF-8 bytes): "naïve" starts at character 5, not 6
    assert as_tuples(word_level("café naïve")) == [("café", 1, 0, 4), ("naïve", 2, 5, 10)]


def test_a_text_with_no_words_has_no_tokens() -> None:
    assert word_level("   ") == []


def test_label_is_the_covered_input_or_the_tokens_own_name() -> None:
    assert Token("the", 1, 4, 7).label("and the cat") == "the"
    assert Token("[CLS]", 1, 0, 0).label("and the cat") == "[CLS]"  # covers nothing


# ---------------------------------------------------------------- --tokenizer FILE


def make_tokenizer(path: Path, *, pad: bool = True, truncate: bool = True) -> Path:
    """A tiny word-level tokenizer.json with [CLS] … [SEP], padding and truncation switched on."""
    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "the": 4, "cat": 5, "sat": 6}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    if pad:
        tok.enable_padding(pad_id=3, pad_token="[PAD]", length=12)
    if truncate:
        tok.enable_truncation(max_length=4)
    tok.save(str(path))
    return path


def test_a_tokenizer_file_is_used_with_its_post_processor_and_no_padding_or_truncation(
        tmp_path: Path) -> None:
    tok = load_tokenizer(make_tokenizer(tmp_path / "tokenizer.json"))
    # "the cat sat on": "on" is not in the vocabulary, so it is [UNK] (id 0)
    assert as_tuples(encode(tok, "the cat sat on")) == [
        ("[CLS]", 1, 0, 0), ("the", 4, 0, 3), ("cat", 5, 4, 7), ("sat", 6, 8, 11),
        ("[UNK]", 0, 12, 14), ("[SEP]", 2, 0, 0),
    ]  # six tokens: truncation to 4 and padding to 12 were both switched off


def test_special_tokens_can_be_left_out(tmp_path: Path) -> None:
    tok = load_tokenizer(make_tokenizer(tmp_path / "tokenizer.json"))
    assert [t.text for t in encode(tok, "the cat", special_tokens=False)] == ["the", "cat"]


def test_explain_with_tokenizer_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a short path, so the tokens table's title stays on one line
    path = make_tokenizer(Path("tok.json"))
    result = invoke("explain", "the cat sat", "--tokenizer", str(path), "--json")
    assert result.exit_code == 0, result.output
    doc = strict_json(result.stdout)
    assert [(t["text"], t["id"], t["start"], t["end"]) for t in doc["tokens"]] == [
        ("[CLS]", 1, 0, 0), ("the", 4, 0, 3), ("cat", 5, 4, 7), ("sat", 6, 8, 11),
        ("[SEP]", 2, 0, 0),
    ]
    assert doc["config"]["tokenizer"] == str(path)
    assert len(doc["heads"][0]["weights"]) == 5  # one row per token, specials included
    shown = invoke("explain", "the cat sat", "--tokenizer", str(path), "--show", "tokens")
    assert shown.exit_code == 0
    assert f"Tokens ({path})" in shown.stdout
    assert "[CLS]" in shown.stdout and "[SEP]" in shown.stdout


def test_word_level_is_named_in_the_config() -> None:
    doc = strict_json(invoke("explain", "the cat", "--json").stdout)
    assert doc["config"]["tokenizer"] == "word-level"


@pytest.mark.parametrize(("content", "words"), [
    (None, ["no such tokenizer file"]),
    (b"{not json", ["not a valid tokenizer.json"]),
    (b'{"model": 3}', ["not a valid tokenizer.json"]),
    # not UTF-8: Python's own words for it, as when the file was decoded before parsing
    (b'{"model": {"type": "WordLevel", "vocab": {"\xff": 0}, "unk_token": "\xff"}}',
     ["not a valid tokenizer.json ('utf-8' codec can't decode byte 0xff in position 43"]),
])
def test_a_bad_tokenizer_file_is_one_clear_error(tmp_path: Path, content: bytes | None,
                                                 words: list[str]) -> None:
    path = tmp_path / "tokenizer.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AttnError) as info:
        load_tokenizer(path)
    for word in words:
        assert word in str(info.value)
    assert str(path) in str(info.value)
    result = invoke("explain", "the cat", "--tokenizer", str(path))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("attn: error:")
    assert words[0] in result.stderr


def test_a_directory_is_not_a_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(AttnError, match="is a directory"):
        load_tokenizer(tmp_path)
