"""attn explore: the session's numbers against explain --json, the keys through Textual's Pilot,
snapshots of the main screens at 80×24, and one run in a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ANIMAL_TIRED, ok, refused
from conftest import invoke as run

from attncli.cli import sources
from attncli.explore.app import Explorer
from attncli.explore.modals import EditScreen, GridScreen, KeysScreen, MatrixScreen
from attncli.explore.session import Session

BERT = str(Path(__file__).parent / "fixtures" / "models" / "bert")
GPT2 = str(Path(__file__).parent / "fixtures" / "models" / "gpt2")
TIRED = "The animal was tired"
MODEL_TEXT = "The animal didn't cross the street because it was tired"


def session_for(text: str, **options) -> Session:
    opts = sources.SourceOptions(**options)
    if opts.model is not None:
        opts = replace(opts, layer="all", head="all")

    def build(sentence: str, causal: bool, positions: str):
        return sources.build(sentence, replace(opts, causal=causal, positions=positions))

    return Session(text, build, causal=opts.causal, positions=opts.positions,
                   can_toggle=opts.model is None)


def animal() -> Explorer:
    return Explorer(session_for(TIRED, weights=ANIMAL_TIRED), source="animal-tired.json")


def model(**kwargs) -> Explorer:
    return Explorer(session_for(MODEL_TEXT, model=BERT), source="bert", **kwargs)


def drive(app: Explorer, *keys: str, size=(80, 24), check=None):
    """Run the app headless, press keys, then call check(app, pilot) and return its value."""
    async def go():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
            return check(app, pilot) if check else None

    return asyncio.run(go())


def key_line(app: Explorer, j: int) -> str:
    from textual.widgets import OptionList

    keys = app.query_one("#keys", OptionList)
    return str(keys.get_option_at_index(j).prompt)


# ---------------------------------------------------------------- the session's numbers


@pytest.mark.parametrize(("text", "options", "args"), [
    (TIRED, {"weights": ANIMAL_TIRED}, ["-w", str(ANIMAL_TIRED)]),
    (TIRED, {"heads": 3, "d_model": 6, "causal": True}, ["--heads", "3", "--d-model", "6",
                                                         "--causal"]),
    (MODEL_TEXT, {"model": BERT}, ["--model", BERT, "--layer", "all", "--head", "all"]),
])
def test_the_numbers_are_explain_json_s(text: str, options: dict, args: list[str]) -> None:
    session = session_for(text, **options)
    doc = json.loads(ok(run("explain", text, *args, "--json")))
    assert len(doc["heads"]) == len(session.ex.heads)
    for head in doc["heads"]:
        steps = session.head(head["layer"], head["head"]).steps
        np.testing.assert_array_equal(steps.weights, np.array(head["weights"]))
        np.testing.assert_array_equal(steps.q, np.array(head["q"]))
    # and the pair the explorer shows is explain's own pair view
    pair = json.loads(ok(run("explain", text, *args, "--from", "#1", "--to", "#2",
                             "--json")))["pair"]
    shown = session.pair(pair["layer"], pair["head"], 1, 2)
    assert shown.weight == pair["weight"] and shown.score == pair["score"]


def test_a_model_runs_once_per_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    session = session_for(MODEL_TEXT, model=BERT)
    real = session.build
    session.build = lambda *key: calls.append(key[0]) or real(*key)
    for layer in session.layers:
        for head in session.heads:
            session.head(layer, head)
            session.grid(1, 2)
    assert calls == [MODEL_TEXT]
    session.retext("The cat sat")
    session.head(0, 0)
    assert calls == [MODEL_TEXT, "The cat sat"]


def test_the_grid_holds_each_heads_weight_and_baseline() -> None:
    session = session_for(MODEL_TEXT, model=BERT)
    weights, base = session.grid(10, 2)  # "it" → "animal"
    assert weights.shape == base.shape == (2, 4)
    hs = session.head(1, 3)
    assert weights[1, 3] == hs.steps.weights[10, 2]
    assert base[1, 3] == pytest.approx(hs.steps.weights[:, 2].mean())


# ---------------------------------------------------------------- keys, through Pilot


def test_down_three_times_is_tired_giving_animal_64_6_percent() -> None:
    def check(app, _):
        assert app.query_row == 3 and app.key == 1  # the key follows to its largest: animal
        assert "64.6%" in key_line(app, 1) and "animal" in key_line(app, 1)
        body = str(app.query_one("#pair-body").render())
        assert "“tired” → “animal”" in body and "weight 0.6460 (64.6%)" in body
        assert "noun" in body and "alive" in body  # the named dimensions

    drive(animal(), "down", "down", "down", check=check)


def test_tab_then_arrows_pick_the_key() -> None:
    def check(app, _):
        assert (app.query_row, app.key) == (3, 3)
        assert "“tired” → “tired”" in str(app.query_one("#pair-body").render())

    drive(animal(), "down", "down", "down", "tab", "down", "down", check=check)


def test_arrows_and_brackets_move_heads_and_layers() -> None:
    def check(app, _):
        return app.layer, app.head

    assert drive(model(), check=check) == (1, 0)  # the last layer, head 0
    assert drive(model(), "right", check=check) == (1, 1)
    assert drive(model(), "left", check=check) == (1, 3)  # wraps around
    assert drive(model(), "left_square_bracket", check=check) == (0, 0)
    assert drive(model(), "right_square_bracket", "right", check=check) == (0, 1)


def test_the_bars_follow_the_head() -> None:
    def check(app, _):
        w = app.session.head(app.layer, app.head).steps.weights[app.query_row]
        return [f"{100 * x:5.1f}%" in key_line(app, j) for j, x in enumerate(w)]

    assert all(drive(model(), "down", "right", "right_square_bracket", check=check))


def test_g_shows_the_grid_and_enter_jumps_to_a_head() -> None:
    def check(app, _):
        return app.screen.__class__, (app.layer, app.head)

    screen, at = drive(model(), "g", check=check)
    assert screen is GridScreen and at == (1, 0)
    # the grid starts on the current head: one row up, one column right, Enter
    screen, at = drive(model(), "g", "up", "right", "enter", check=check)
    assert screen is not GridScreen and at == (0, 1)
    screen, at = drive(model(), "g", "escape", check=check)
    assert screen is not GridScreen and at == (1, 0)


def test_m_shows_the_weights_as_a_heat_map() -> None:
    def check(app, _):
        return app.screen.__class__

    assert drive(animal(), "m", check=check) is MatrixScreen
    assert drive(animal(), "m", "escape", check=check) is not MatrixScreen


def test_question_mark_lists_the_keys() -> None:
    assert drive(animal(), "question_mark", check=lambda app, _: app.screen.__class__) \
        is KeysScreen


def test_c_and_p_toggle_the_mask_and_positions() -> None:
    def check(app, _):
        s = app.session.head(app.layer, app.head).steps
        return app.session.causal, app.session.positions, s.mask is not None

    assert drive(animal(), "c", check=check) == (True, "none", True)
    assert drive(animal(), "c", "p", check=check) == (True, "sinusoidal", True)
    assert drive(animal(), "c", "c", check=check) == (False, "none", False)


def test_a_model_refuses_the_toggles() -> None:
    def check(app, _):
        return app.session.causal, app.session.positions

    assert drive(model(), "c", "p", check=check) == (False, "none")


def test_a_masked_key_says_masked() -> None:
    def check(app, _):
        return key_line(app, 3), str(app.query_one("#pair-body").render())

    line, body = drive(animal(), "c", "tab", "down", "down", "down", check=check)
    assert "—" in line and "%" not in line  # query "The" may not see "tired"
    assert "— masked: a later token, hidden by the causal mask" in " ".join(body.split())


def test_e_edits_the_sentence_and_works_it_out_again() -> None:
    async def go():
        app = animal()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("e")
            assert isinstance(app.screen, EditScreen)
            edit = app.screen.query_one("#edit")
            edit.value = "The cat was tired"
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            return app.session.text, app.labels, app.query_row

    text, labels, query = asyncio.run(go())
    assert text == "The cat was tired" and labels == ["The", "cat", "was", "tired"]
    assert query == 0


def test_the_worker_computes_and_only_the_screens_thread_changes_the_sentence() -> None:
    app = animal()
    build, seen = app.session.build, []

    def watched(text: str, causal: bool, positions: str):
        seen.append((text, app.session.text, threading.current_thread() is main))
        return build(text, causal, positions)

    app.session.build = watched
    main = threading.main_thread()

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("e")
            app.screen.query_one("#edit").value = "The cat was tired"
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            return app.session.text

    assert asyncio.run(go()) == "The cat was tired"
    # built off the screen's thread, while the session still showed the old sentence
    assert ("The cat was tired", TIRED, False) in seen


def test_an_edit_that_fails_keeps_the_old_sentence() -> None:
    async def go():
        app = animal()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("e")
            app.screen.query_one("#edit").value = "zebra"  # not in the file's embeddings
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            return app.session.text

    assert asyncio.run(go()) == TIRED


def test_s_saves_the_screen_as_an_svg(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    app = Explorer(session_for(TIRED, weights=ANIMAL_TIRED), source="x", save_dir=tmp_path)
    drive(app, "down", "down", "down", "s", "s")
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["attn-explore-1.svg", "attn-explore-2.svg"]
    svg = (tmp_path / "attn-explore-1.svg").read_text("utf-8")
    ET.fromstring(svg)
    assert "64.6%" in svg and "Fira Code" not in svg and 'xml:space="preserve"' in svg


def test_q_quits() -> None:
    async def go():
        app = animal()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("q")
            await pilot.pause()
            return app.return_code

    assert asyncio.run(go()) in (0, None)


def test_clicking_a_token_makes_it_the_query() -> None:
    async def go():
        app = animal()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.click("#queries", offset=(3, 4))  # the fourth option: "tired"
            await pilot.pause()
            return app.query_row

    assert asyncio.run(go()) == 3


# ---------------------------------------------------------------- the terminal it is given

LONG = ("the cat sat on the mat because it was tired and the dog ran to the park with a ball "
        "while the sun set over the hills")  # 27 tokens: more than the key list shows


def sizes(app: Explorer, _) -> dict:
    from rich.cells import cell_len
    from textual.widgets import OptionList

    keys = app.query_one("#keys", OptionList)
    lines = [key_line(app, j) for j in range(keys.option_count)]
    return {"list": (keys.outer_size.width, keys.outer_size.height),
            "room": keys.scrollable_content_region.width,
            "widest": max(cell_len(line) for line in lines),
            "queries": app.query_one("#queries").outer_size.height}


def test_the_lists_and_bars_grow_with_the_terminal() -> None:
    small = drive(Explorer(session_for(LONG)), check=sizes)
    big = drive(Explorer(session_for(LONG)), size=(120, 40), check=sizes)
    assert big["list"][0] > small["list"][0] + 30  # 40 more columns, most of them the list's
    assert small["list"][1] == small["queries"] == 12  # half of 24 lines, as the style says
    assert big["list"][1] == big["queries"] == 20  # half of 40
    for got in (small, big):  # every line of the list is as wide as the list: the bars fill it
        assert got["widest"] == got["room"]


def test_the_bars_fill_the_list_on_every_sentence() -> None:
    got = drive(animal(), "down", "down", "down", size=(120, 40), check=sizes)
    assert got["widest"] == got["room"]
    # tired → animal is 64.6% of the bar's cells, in whole cells and eighths
    cells = got["room"] - len("animal") - 1 - len(" 100.0%")
    line = drive(animal(), "down", "down", "down", size=(120, 40),
                 check=lambda app, _: key_line(app, 1))
    assert line.count("█") == int(0.6460 * cells * 8 + 0.5) // 8


def visible_keys(app: Explorer) -> range:
    from textual.widgets import OptionList

    keys = app.query_one("#keys", OptionList)
    top = int(keys.scroll_offset.y)
    return range(top, top + keys.scrollable_content_region.height)


def test_the_strongest_key_stays_in_view() -> None:
    async def go():
        app = Explorer(session_for(LONG, heads=2))
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            for move in ["right", "left"]:
                for _ in range(len(app.labels)):
                    await pilot.pause()
                    best = int(app.steps.weights[app.query_row].argmax())
                    seen.append((app.head, app.query_row, best, app.key, visible_keys(app)))
                    await pilot.press("down")
                await pilot.press(move)
        return seen

    seen = asyncio.run(go())
    assert {head for head, *_ in seen} == {0, 1}
    missed = [(head, query, best) for head, query, best, _, shown in seen if best not in shown]
    assert missed == []
    # the chosen key too, where both fit; and one case where they do not: the strongest wins
    assert all(key in shown for _, _, best, key, shown in seen if abs(best - key) < 10)
    assert any(abs(best - key) >= 10 for _, _, best, key, _ in seen)


def test_a_new_head_brings_its_strongest_key_into_view() -> None:
    def check(app, _):
        return int(app.steps.weights[app.query_row].argmax()), visible_keys(app)

    for keys in (("down", "down", "right"), ("down", "down", "right_square_bracket")):
        best, shown = drive(Explorer(session_for(LONG, heads=4)), *keys, check=check)
        assert best in shown


def test_a_decoder_opens_on_an_unmasked_pair() -> None:
    def check(app, _):
        s = app.steps
        body = str(app.query_one("#pair-body").render())
        return app.query_row, app.key, bool(s.mask[app.query_row, app.key]), len(app.labels), body

    decoder = Explorer(session_for(TIRED, model=GPT2), source="gpt2")
    query, key, masked, n, body = drive(decoder, check=check)
    assert query == n - 1 and not masked and key != query  # the last token sees them all
    assert "masked" not in body
    query, key, masked, _, _ = drive(Explorer(session_for(TIRED, weights=ANIMAL_TIRED,
                                                          causal=True)), check=check)
    assert (query, key, masked) == (3, 1, False)  # tired → animal, as without the mask


def test_under_a_mask_the_key_follows_only_to_keys_the_query_sees() -> None:
    def check(app, _):
        return app.query_row, app.key

    decoder = Explorer(session_for(TIRED, model=GPT2), source="gpt2")
    assert drive(decoder, "home", check=check) == (0, 0)  # the first sees only itself
    decoder = Explorer(session_for(TIRED, model=GPT2), source="gpt2")
    query, key = drive(decoder, "home", "down", check=check)
    assert (query, key) == (1, 0)


def heat_map_text(app: Explorer, _) -> list[str]:
    from textual.widgets import Static

    from attncli.explore.app import as_text

    body = app.screen.query_one(Static)
    return as_text(app.screen.view, body.content_region.width).plain.splitlines()


def test_the_heat_map_names_its_columns_by_token() -> None:
    lines = drive(animal(), "m", check=heat_map_text)
    words = TIRED.split()
    assert [line.split()[:2] for line in lines[2:6]] == [[str(i), w] for i, w in enumerate(words)]
    # the tokens across the top, each over its column: as wide as the longest token, and a space
    start, width = len("0 animal "), len("animal") + 1
    header = lines[1]
    assert [header[start + width * j:start + width * (j + 1)].strip()
            for j in range(4)] == words
    weights = session_for(TIRED, weights=ANIMAL_TIRED).head(0, 0).steps.weights
    for i, row in enumerate(lines[2:6]):  # the darkest cell sits under the row's largest
        cells = [row[start + width * j:start + width * (j + 1)] for j in range(4)]
        assert cells[int(weights[i].argmax())] == "█" * (width - 1) + " "


def test_a_long_sentences_heat_map_writes_its_tokens_downwards() -> None:
    lines = drive(Explorer(session_for(LONG)), "m", check=heat_map_text)
    words = LONG.split()
    first = next(r for r, line in enumerate(lines) if line.startswith(" 0 the "))
    down, ruler = lines[1:first - 1], lines[first - 1]  # the tokens downwards, their numbers
    start = len(" 0 because ")  # the rows' labels, as wide as the longest and a space
    columns = ["".join(line[start + 2 * j:start + 2 * j + 1] for line in down).strip()
               for j in range(len(words))]
    assert columns == words  # none longer than 8 characters
    assert ruler[start:].split() == ["0", "5", "10", "15", "20", "25"]
    assert ruler.index("10") == start + 2 * 10
    assert all(len(line) <= 76 for line in lines)  # inside the box at 80 columns


def test_a_token_too_long_to_write_downwards_ends_in_an_ellipsis() -> None:
    from attncli.render.heatmap import Heatmap

    labels = ["a", "understanding", "é"]
    heat = Heatmap("t", labels, np.eye(3), per_row=True, columns=labels)
    down = heat._downwards(3, 2)
    assert ["".join(line[2 * j] for line in down).strip() for j in range(3)] == \
        ["a", "underst…", "é"]


def note(app: Explorer, _) -> str:
    return str(app.query_one("#note").render()) if app.query_one("#note").display else ""


def test_p_says_what_the_positions_changed_with_the_numbers() -> None:
    off = session_for(TIRED, weights=ANIMAL_TIRED).head(0, 0).steps.weights
    on = session_for(TIRED, weights=ANIMAL_TIRED, positions="sinusoidal").head(0, 0).steps.weights
    moved = np.abs(on - off)
    i, j = np.unravel_index(moved.argmax(), moved.shape)
    words = TIRED.split()
    said = drive(animal(), "down", "down", "down", "p", check=note)
    assert said.startswith("sinusoidal positions on: each token's embedding gets its "
                           "position's sines and cosines added")
    assert f"“tired” → “animal” {off[3, 1]:.4f} → {on[3, 1]:.4f}" in said
    assert f"the largest change: “{words[i]}” → “{words[j]}” {off[i, j]:.4f} → {on[i, j]:.4f}" \
        in said
    said = drive(animal(), "down", "down", "down", "p", "p", check=note)
    assert said.startswith("sinusoidal positions off")
    assert f"“tired” → “animal” {on[3, 1]:.4f} → {off[3, 1]:.4f}" in said
    assert drive(animal(), "down", "down", "down", "p", "up", check=note) == ""  # moved on


def test_c_says_what_the_mask_changed() -> None:
    said = drive(animal(), "c", check=note)  # on "The" → "animal": now masked
    off = session_for(TIRED, weights=ANIMAL_TIRED).head(0, 0).steps.weights
    assert said.startswith("causal mask on: each token sees itself and the tokens before it")
    assert f"“The” → “animal” {off[0, 1]:.4f} → —" in said
    assert f"the largest change: “The” → “The” {off[0, 0]:.4f} → 1.0000" in said


def test_the_keys_fit_80_by_24_and_esc_or_question_mark_close_them() -> None:
    def check(app, _):
        box = app.screen.query_one("#keys-box")
        text = str(box.render())
        return box.region, box.content_region.height, len(text.splitlines())

    region, height, lines = drive(animal(), "question_mark", check=check)
    assert region.x >= 0 and region.right <= 80 and region.y >= 0 and region.bottom <= 24
    assert height == lines  # no line wrapped: each fits the box

    def state(app, _):
        return app.is_running, app.screen.__class__

    for close in ("escape", "question_mark"):
        running, screen = drive(animal(), "question_mark", close, check=state)
        assert running and screen is not KeysScreen
    running, screen = drive(animal(), "escape", check=state)  # nothing open: Esc does nothing
    assert running


# ---------------------------------------------------------------- snapshots at 80×24


def test_snapshot_animal_tired_query_tired(snap_compare) -> None:
    assert snap_compare(animal(), press=["down", "down", "down"], terminal_size=(80, 24))


def test_snapshot_model_grid(snap_compare) -> None:
    assert snap_compare(model(), press=["g"], terminal_size=(80, 24))


def test_snapshot_keys(snap_compare) -> None:
    assert snap_compare(animal(), press=["question_mark"], terminal_size=(80, 24))


# ---------------------------------------------------------------- the command


def test_explore_needs_a_terminal() -> None:
    refused(run("explore", TIRED), "needs a terminal", "attn explain")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_real_terminal_shows_tired_giving_animal_64_6_percent_and_q_exits_0() -> None:
    import fcntl
    import pty
    import select
    import struct
    import subprocess
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "attncli", "explore", TIRED, "-w",
                             str(ANIMAL_TIRED)], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    seen = b""

    def read_for(seconds: float) -> None:
        nonlocal seen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    return

    def wait_for(text: bytes, seconds: float = 30) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and text not in seen:
            read_for(0.2)
        return text in seen

    assert wait_for(b"keys")  # the first frame, with its status line
    before = len(seen)
    for key in (b"\x1b[B", b"\x1b[B", b"\x1b[B"):  # ↓ ↓ ↓
        os.write(master, key)
        read_for(0.4)
    assert wait_for("“tired” → “animal”".encode())
    plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen[before:]).decode("utf-8", "replace")
    assert "64.6%" in plain
    os.write(master, b"q")
    assert proc.wait(timeout=20) == 0
    os.close(master)


def test_the_keys_list_closes_on_q_without_quitting() -> None:
    def check(app, _):
        return app.is_running, app.screen.__class__

    running, screen = drive(animal(), "question_mark", "q", check=check)
    assert running and screen is not KeysScreen


def test_text_from_standard_input_is_refused() -> None:
    refused(run("explore", "-"), "TEXT cannot be -")


# ---------------------------------------------------------------- a terminal too small


@pytest.mark.parametrize("size", [(20, 5), (39, 24), (80, 11), (1, 1)])
def test_a_terminal_too_small_shows_a_note_instead_of_the_panes(size: tuple[int, int]) -> None:
    from textual.widgets import Static

    def check(app: Explorer, _pilot):
        note = app.query_one("#too-small", Static)
        return app.too_small, note.display, app.query_one("#main").display, str(note.render())

    small, shown, main, text = drive(animal(), "g", "m", "question_mark", size=size,
                                     check=check)
    assert (small, shown, main) == (True, True, False)
    assert f"{size[0]}×{size[1]}" in text and "at least 40×12" in text
    assert drive(animal(), "g", size=size, check=lambda app, _: len(app.screen_stack)) == 1


def test_the_panes_come_back_when_the_terminal_grows() -> None:
    async def go():
        app = animal()
        async with app.run_test(size=(20, 5)) as pilot:
            await pilot.pause()
            assert app.too_small
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            grown = (app.too_small, app.query_one("#main").display,
                     app.query_one("#too-small").display)
            await pilot.press("g")  # keys work again
            await pilot.pause()
            return grown, isinstance(app.screen, GridScreen)

    assert asyncio.run(go()) == ((False, True, False), True)


def test_q_quits_a_terminal_too_small() -> None:
    assert drive(animal(), "q", size=(20, 5), check=lambda app, _: app.is_running) is False


def test_the_summary_names_the_mask_that_hides_the_key() -> None:
    gemma2 = str(Path(__file__).parent / "fixtures" / "models" / "gemma2")
    app = Explorer(session_for(TIRED, model=gemma2), source="gemma2", layer=0)

    def check(app, _):
        app.query_row, app.key = 4, 0  # "tired" and "<s>", 4 places back: outside the window of 4
        window = str(app.pair_view().renderables[0])
        app.query_row, app.key = 1, 4  # "The" and the later "tired"
        return window, str(app.pair_view().renderables[0])

    window, later = drive(app, check=check)
    assert window == ("“tired” → “<s>”: masked, “<s>” is 4 places before “tired”, and this "
                      "layer's sliding window of 4 hides keys 4 or more places back (a query "
                      "sees itself and the 3 tokens before it); its weight is 0.")
    assert later == ("“The” → “tired”: masked, “tired” comes after “The”, and the causal mask "
                     "hides later tokens; its weight is 0.")


def test_the_grid_marks_each_heads_strongest_role() -> None:
    from attncli.heads import head_roles

    session = session_for(MODEL_TEXT, model=BERT)
    roles = session.roles()
    assert roles is session.roles()  # worked out once per sentence
    assert roles[1][3] == head_roles(session.ex, session.head(1, 3))
    marks = [[(r.role, r.score) for r in row] for row in roles]
    weights, base = session.grid(10, 2)
    screen = GridScreen(session.layers, session.heads, weights, base, (0, 0), "it", "animal",
                        marks)
    role, score = marks[1][3]
    words = screen.role_words(1, 3)
    assert f"{100 * score:.0f}%" in words and "as `attn heads` marks them" in words
    assert (f"Role: {role}" if role in ("first", "previous", "self", "next", "broad")
            else "Role:") in words


def test_the_grid_never_rounds_a_role_score_up_to_the_40_percent_a_role_needs() -> None:
    one = np.array([[0.5]])
    screen = GridScreen([0], [0], one, one, (0, 0), "it", "animal", [[("mixed", 0.3987)]])
    assert "Role: no role holds (highest 39%)." in screen.role_words(0, 0)
