"""`attn explore`: pick a query and a key, and watch the bars and the pair view follow.

State is four reactive numbers (query_row, key, layer, head); their watchers redraw what depends
on them. Every number comes from the Session (explain's own results), drawn by the views of
`attn explain` and `attn heads`: nothing here computes attention.
"""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList, Static

from attncli.attention import Steps
from attncli.errors import AttnError
from attncli.explore.modals import (
    EditScreen,
    GridScreen,
    KeysScreen,
    MatrixScreen,
)
from attncli.explore.session import Generated, Knockout, Session, largest_change
from attncli.render import pair as render_pair
from attncli.render.common import hidden_because, without_headings
from attncli.render.heatmap import Heatmap
from attncli.render.widgets import MASKED, bar, token_label
from attncli.safe_text import visible

BAR = 20  # cells of a key's bar until the key list has a width to fill
MIN_BAR = 8  # a bar is never narrower, however narrow the list
PERCENT = 7  # " 100.0%" after a bar, or "      —" for a masked key
MIN_WIDTH, MIN_HEIGHT = 40, 12  # the smallest terminal the panes are drawn in
ROUNDING = 1e-4  # an earlier row moved by less than this when a token came: float rounding


class KeyList(OptionList):
    """The key list. It tells the explorer when it gets a size or is shown, so the bars fill
    its width and the explorer, not the list, picks which keys are in view."""

    class Placed(Message):
        pass

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Placed())

    @on(events.Show)  # not on_show: OptionList's on_show takes no event, so cannot share its name
    def _shown(self, event: events.Show) -> None:
        event.prevent_default()  # not OptionList's own scroll to the highlighted key
        self.post_message(self.Placed())


class Explorer(App[None]):
    """The explorer: the sentence, the query list, its bars over every key, the pair view."""

    CSS_PATH = "explore.tcss"
    TITLE = "attn explore"
    BINDINGS = [
        Binding("left", "head(-1)", "head", show=False),
        Binding("right", "head(1)", "head", show=False),
        Binding("left_square_bracket", "layer(-1)", "layer", show=False),
        Binding("right_square_bracket", "layer(1)", "layer", show=False),
        Binding("g", "grid", "grid"),
        Binding("m", "matrix", "matrix"),
        Binding("c", "causal", "causal"),
        Binding("p", "positions", "positions"),
        Binding("e", "edit", "edit"),
        Binding("s", "save", "save"),
        Binding("a", "knock", "knock out"),
        Binding("n", "next_token", "next token"),
        Binding("b", "back_token", "back a token"),
        Binding("question_mark", "keys", "keys"),
        Binding("q", "quit", "quit"),
    ]

    query_row: reactive[int] = reactive(0)  # not `query`: that is DOMNode.query()
    key: reactive[int] = reactive(0)
    layer: reactive[int] = reactive(0)
    head: reactive[int] = reactive(0)

    def __init__(self, session: Session, *, layer: int | None = None, head: int | None = None,
                 precision: int = 2, source: str = "", save_dir: Path | None = None) -> None:
        super().__init__()
        self.session, self.precision, self.source = session, precision, source
        self.save_dir = save_dir or Path.cwd()
        self.ready = False  # the watchers draw nothing until the lists are filled
        self.too_small = False  # the terminal is smaller than the panes need (fit_screen)
        self.knocked: Knockout | None = None  # the head knocked out (a), with its numbers
        layers, heads = session.layers, session.heads
        self.set_reactive(Explorer.layer, layers[-1] if layer is None else layer)
        self.set_reactive(Explorer.head, heads[0] if head is None else head)

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static(id="too-small")
        with Vertical(id="main"):
            yield Static(id="sentence")
            with Horizontal(id="middle"):
                yield OptionList(id="queries")
                yield KeyList(id="keys")
            with VerticalScroll(id="pair"):
                yield Static(id="pair-body")
            yield Static(id="note")
            yield Static(id="status")

    def on_mount(self) -> None:
        self.fit_screen()
        self.set_reactive(Explorer.query_row, self.opening_query())
        self.fill_lists()
        self.query_one("#queries", OptionList).focus()
        self.ready = True
        self.follow_query()
        self.redraw()

    def opening_query(self) -> int:
        """Where a sentence opens: on its first token, or under a mask on its last, the query
        that sees the most keys (the first sees only itself)."""
        return len(self.labels) - 1 if self.steps.mask is not None else 0

    # ---------------------------------------------------------------- the numbers

    @property
    def labels(self) -> list[str]:
        return self.session.ex.labels

    @property
    def steps(self) -> Steps:
        """The current head's steps: its weights, its mask."""
        return self.session.head(self.layer, self.head).steps

    def fill_lists(self) -> None:
        """The token lists of the current sentence (the key list's prompts carry the bars)."""
        n = len(self.labels)
        self.set_reactive(Explorer.query_row, min(self.query_row, n - 1))
        self.set_reactive(Explorer.key, min(self.key, n - 1))
        digits = len(str(n - 1))
        width = max(len(token_label(lab)) for lab in self.labels) + digits + 1
        queries = self.query_one("#queries", OptionList)
        queries.set_options([Text(f"{i:>{digits}} {token_label(lab)}", no_wrap=True)
                             for i, lab in enumerate(self.labels)])  # Text: never markup
        queries.styles.width = width + 6  # its border, padding and scroll bar
        keys = self.query_one("#keys", OptionList)
        keys.set_options(self.key_prompts())
        queries.highlighted, keys.highlighted = self.query_row, self.key

    def key_prompts(self) -> list[Text]:
        """One line per key: its name, the query's bar over it and the weight, or — where the
        mask hides it. The bars fill the key list's width."""
        s = self.steps
        w = s.weights[self.query_row]
        masked = None if s.mask is None else s.mask[self.query_row]
        names = [token_label(lab) for lab in self.labels]
        width = max(cell_len(name) for name in names)
        cells = self.bar_cells(width)
        best = int(w.argmax())
        out = []
        for j, name in enumerate(names):
            line = Text(" " * (width - cell_len(name)) + name + " ",
                        style="bold" if j == best else "", no_wrap=True)
            if masked is not None and masked[j]:
                line.append(" " * cells + f" {MASKED:>{PERCENT - 1}}", style="dim")
            else:
                line.append(bar(float(w[j]), cells), style="bold cyan" if j == best else "cyan")
                line.append(f" {100 * w[j]:5.1f}%")
            out.append(line)
        return out

    def bar_cells(self, label_width: int) -> int:
        """How many cells a bar has: what the key list's width leaves beside the key's name
        and its percentage."""
        keys = self.query_one("#keys", OptionList)
        room = keys.scrollable_content_region.width
        if not room:  # not laid out yet
            return BAR
        room -= keys.get_component_styles("option-list--option").padding.width
        return max(MIN_BAR, room - label_width - 1 - PERCENT)

    def on_key_list_placed(self) -> None:
        """The key list has a (new) size: bars to fill it, and its strongest key in view
        once it is laid out."""
        self.redraw()
        self.call_after_refresh(self.show_strongest)

    def show_strongest(self) -> None:
        """Scroll the key list so the key the query gives most weight is in view, with the
        chosen key too when both fit."""
        keys = self.query_one("#keys", OptionList)
        best, height = int(self.steps.weights[self.query_row].argmax()), keys.scrollable_size.height
        if not height:
            return
        top, bottom = min(best, self.key), max(best, self.key)
        if bottom - top >= height:
            top = bottom = best
        keys.scroll_to_region(Region(0, top, 1, bottom - top + 1), animate=False, force=True,
                              immediate=True)

    def redraw(self) -> None:
        if not self.ready:
            return
        ex = self.session.ex
        self.query_one("#sentence", Static).update(Text.assemble(
            ("“", "dim"), (visible(self.session.text), "bold"), ("”", "dim"),
            f"  {len(ex.tokens)} tokens", style=""))
        keys = self.query_one("#keys", OptionList)
        for j, prompt in enumerate(self.key_prompts()):
            keys.replace_option_prompt_at_index(j, prompt)
        width = max(20, self.size.width - 4)  # the pane's padding and its scroll bar
        self.query_one("#pair-body", Static).update(as_text(self.pair_view(), width))
        self.query_one("#status", Static).update(self.status())

    def pair_view(self) -> RenderableType:
        """The pair view for the query and the key: a one-line summary, then every sum."""
        ex, pr = self.session.ex, self.session.pair(self.layer, self.head, self.query_row, self.key)
        a, b = token_label(ex.labels[pr.query]), token_label(ex.labels[pr.key])
        p = self.precision
        if pr.reason is not None:
            summary = Text(f"“{a}” → “{b}”: masked, {hidden_because(pr.reason, a, b)}; its "
                           "weight is 0.", style="bold")
        else:
            exp = "e^x" if pr.row.shift == 0 else "e^(x−m)"
            chain = render_pair.scale_chain(pr, p, brief=True)
            summary = Text(
                f"“{a}” → “{b}”: q·k = {pr.score:.{p}f}, {chain}, "
                f"{exp} {pr.row.exps[pr.key]:.4f} of the row's {pr.row.total:.4f} = weight "
                f"{pr.weight:.4f} ({100 * pr.weight:.1f}%)", style="bold")
        # the pair's views, without the step headings: the summary says which step is which
        parts = [summary,
                 *without_headings(render_pair.pair_score(ex, pr, p)),
                 *without_headings(render_pair.softmax_sums(ex, pr.row, p, key=pr.key)),
                 *without_headings(render_pair.pair_output(ex, pr, p))]
        return Group(*(item for part in parts for item in (part, Text(""))))

    def status(self) -> Text:
        """The last line: the source, where we are, the keys."""
        where = f"layer {self.layer} · head {self.head}"
        if self.session.can_toggle:
            where += "".join((" · causal" if self.session.causal else "",
                              " · sinusoidal" if self.session.positions == "sinusoidal" else ""))
        if self.knocked is not None:
            where += f" · {self.knocked.layer}.{self.knocked.head} knocked out"
        if self.session.start is not None:
            where += f" · token {self.session.shown}/{self.session.limit}"
        return Text.assemble((f" {self.source} · {where} ", "bold"),
                             "│ ? keys · q quit · ↑↓ Tab ←→ [ ] g m c p e s a",
                             style="reverse",
                             no_wrap=True, overflow="ellipsis")

    # ---------------------------------------------------------------- the state

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "queries" and event.option_index != self.query_row:
            self.query_row = event.option_index
        elif event.option_list.id == "keys" and event.option_index != self.key:
            self.key = event.option_index

    def watch_query_row(self) -> None:
        if self.ready:
            self.say("")
            self.follow_query()
            self.redraw()
            self.show_strongest()

    def follow_query(self) -> None:
        """A new query: the key list follows it to the key it gives most weight among those
        it sees, itself aside (Tab, then ↑/↓ picks another); itself when it sees no other."""
        s = self.steps
        w = s.weights[self.query_row].copy()
        w[self.query_row] = -1.0
        if s.mask is not None:
            w[s.mask[self.query_row]] = -1.0
        best = int(w.argmax()) if w.max() >= 0 else self.query_row
        if best != self.key:
            self.set_reactive(Explorer.key, best)
            self.query_one("#keys", OptionList).highlighted = best

    def watch_key(self) -> None:
        self.say("")
        self.redraw()

    def watch_layer(self) -> None:
        self.say("")
        self.redraw()
        self.show_strongest()

    def watch_head(self) -> None:
        self.say("")
        self.redraw()
        self.show_strongest()

    def on_resize(self, event: events.Resize) -> None:
        self.fit_screen(event.size)
        self.redraw()

    def fit_screen(self, size: Size | None = None) -> None:
        """Below the smallest size the panes can be drawn in, a note in their place, until the
        terminal grows again. size: the terminal's new size (self.size follows it later)."""
        width, height = size or self.size
        self.too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.query_one("#main").display = not self.too_small
        note = self.query_one("#too-small", Static)
        note.display = self.too_small
        if self.too_small:
            note.update(f"The terminal is {width}×{height}; attn explore needs at least "
                        f"{MIN_WIDTH}×{MIN_HEIGHT}. Make it larger, or press q to quit.")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """On a screen too small to draw the panes, only quitting works."""
        return action == "quit" or not self.too_small

    def action_head(self, step: int) -> None:
        heads = self.session.heads
        self.head = heads[(heads.index(self.head) + step) % len(heads)]

    def action_layer(self, step: int) -> None:
        layers = self.session.layers
        self.layer = layers[(layers.index(self.layer) + step) % len(layers)]

    def action_causal(self) -> None:
        if self.toggle_refused():
            return
        before = self.steps
        self.session.causal = not self.session.causal
        self.say(("causal mask on: each token sees itself and the tokens before it, no later "
                  "one") if self.session.causal else
                 "causal mask off: each token sees every token", before)

    def action_positions(self) -> None:
        if self.toggle_refused():
            return
        before = self.steps
        self.session.positions = "none" if self.session.positions == "sinusoidal" \
            else "sinusoidal"
        self.say(("sinusoidal positions on: each token's embedding gets its position's sines "
                  "and cosines added") if self.session.positions == "sinusoidal" else
                 "sinusoidal positions off: each embedding is the token's alone", before)

    def say(self, what: str, before: Steps | None = None) -> None:
        """The note above the status line (none when what is empty). With before, the head's
        steps before a switch: the note adds how the chosen pair's weight moved, and the
        weight that moved most, then everything is drawn again."""
        note = self.query_one("#note", Static)
        note.display = bool(what)
        if before is None:
            note.update(what)
            return
        after = self.steps
        text = Text(f"{what}. Layer {self.layer}, head {self.head}: ", no_wrap=False)
        text.append_text(self.moved(before, after, self.query_row, self.key))
        i, j, by = largest_change(before, after)
        if by == 0:
            text.append("; no weight of this head changed.")
        elif (i, j) == (self.query_row, self.key):
            text.append(", the largest change in this head.")
        else:
            text.append("; the largest change: ")
            text.append_text(self.moved(before, after, i, j))
            text.append(".")
        note.update(text)
        self.redraw()
        self.show_strongest()

    def moved(self, before: Steps, after: Steps, i: int, j: int) -> Text:
        """“a” → “b” 0.6460 → 0.4310: a pair's weight before and after a switch."""
        def weight(s: Steps) -> str:
            return MASKED if s.mask is not None and s.mask[i, j] else f"{s.weights[i, j]:.4f}"

        a, b = token_label(self.labels[i]), token_label(self.labels[j])
        return Text.assemble((f"“{a}” → “{b}”", "bold"), f" {weight(before)} → {weight(after)}")

    def toggle_refused(self) -> bool:
        if not self.session.can_toggle:
            self.notify("a model sets its own mask and positions", severity="warning")
        return not self.session.can_toggle

    # ---------------------------------------------------------------- knocking a head out

    def action_knock(self) -> None:
        """a: knock out the current head and show how the prediction changes; a again on the
        same head restores it. The model runs in a worker, never on the screen's thread."""
        k = self.knocked
        if k is not None and (k.layer, k.head) == (self.layer, self.head):
            self.knocked = None
            self.say(f"Layer {k.layer}, head {k.head} restored: “{self.shown(k.before, k)}” "
                     f"{100 * k.before_p:.2f}% as the model runs.")
            self.redraw()
            return
        if self.session.knock is None:
            self.say(f"Nothing to knock out against: {self.session.no_knock}.")
            return
        self.knock(self.layer, self.head)

    @work(thread=True, exclusive=True, group="knock")
    def knock(self, layer: int, head: int) -> None:
        """The prediction with the head knocked out, worked out off the screen's thread."""
        self.call_from_thread(self.say, f"Knocking out layer {layer}, head {head}…")
        try:
            k = self.session.knock_out(layer, head)
        except AttnError as exc:
            self.call_from_thread(self.say, str(exc))
            return
        self.call_from_thread(self.after_knock, k)

    def after_knock(self, k: Knockout) -> None:
        self.knocked = k
        self.say(self.knock_words(k))
        self.redraw()

    def knock_words(self, k: Knockout) -> str:
        """What knocking the head out did to the prediction, in one or two lines."""
        at = token_label(self.labels[k.position])
        was, now = self.shown(k.before, k), self.shown(k.after, k)
        after = "−∞" if k.logp_after == float("-inf") else f"{k.logp_after:.3f}"
        change = "" if k.logp_after == float("-inf") else f", a change of {k.change:+.3f}"
        return (f"Layer {k.layer}, head {k.head} knocked out (its output before W_O set to "
                f"zero). At “{at}” (position {k.position}): “{was}” {100 * k.before_p:.2f}% → "
                f"“{now}” {100 * k.after_p:.2f}%; log p(“{was}”) {k.logp_before:.3f} → "
                f"{after}{change}. a again restores it.")

    @staticmethod
    def shown(token: str, k: Knockout) -> str:
        from attncli.render.predict import token_shown

        return token_shown(token, k.byte_level)

    # ---------------------------------------------------------------- generating

    def action_next_token(self) -> None:
        """n: one more token, picked by the model over its cache (in a worker), its text
        worked out in every head; after b, the token taken back comes again."""
        if self.session.start is None:
            self.say(f"Nothing to generate with: {self.session.no_generate}.")
            return
        self.next_token()

    @work(thread=True, exclusive=True, group="generate")
    def next_token(self) -> None:
        """The next token, made off the screen's thread."""
        self.call_from_thread(self.say, "Generating the next token…")
        try:
            made = self.session.forward()
        except AttnError as exc:
            self.call_from_thread(self.say, str(exc))
            return
        self.call_from_thread(self.after_token, made)

    def after_token(self, made: Generated) -> None:
        self.session.show(made.index + 1)
        self.follow_text()
        end = " It is the model's end of text." if made.eos else ""
        mask = "the causal mask hides the new token from them"
        rows = (f"every earlier row of every head is as it was (largest change 0): {mask}"
                if made.moved == 0 else
                f"every earlier row of every head changed by at most {_small(made.moved)}"
                + (f", float rounding: {mask}" if made.moved < ROUNDING else ""))
        self.say(f"Token {made.index + 1}: “{token_label(made.token)}” "
                 f"({100 * made.probability:.1f}%), picked from the row of "
                 f"“{token_label(self.labels[-2])}”. Its own row is new; {rows}.{end} "
                 "b takes it back.")

    def action_back_token(self) -> None:
        """b: take the last generated token back; the views follow."""
        session = self.session
        if session.start is None:
            self.say(f"Nothing to take back: {session.no_generate}.")
            return
        if session.shown == 0:
            self.say("At the prompt: no generated token to take back (n generates one).")
            return
        gone = session.generated[session.shown - 1]
        session.show(session.shown - 1)
        self.follow_text()
        self.say(f"“{token_label(gone.token)}” taken back: {len(self.labels)} tokens. "
                 "n brings it again.")

    def follow_text(self) -> None:
        """The session's text changed: the lists and views of its last token."""
        self.knocked = None  # a knock-out belongs to the text it was made on
        self.set_reactive(Explorer.query_row, len(self.labels) - 1)
        with self.prevent(OptionList.OptionHighlighted):  # the lists follow the state here
            self.fill_lists()
            self.follow_query()
        self.redraw()
        self.show_strongest()

    # ---------------------------------------------------------------- the other screens

    def action_grid(self) -> None:
        weights, base = self.session.grid(self.query_row, self.key)
        a, b = token_label(self.labels[self.query_row]), token_label(self.labels[self.key])

        def jump(choice: tuple[int, int] | None) -> None:
            if choice is not None:
                self.layer, self.head = choice

        roles = [[(r.role, r.score) for r in row] for row in self.session.roles()]
        self.push_screen(GridScreen(self.session.layers, self.session.heads, weights, base,
                                    (self.layer, self.head), a, b, roles), jump)

    def action_matrix(self) -> None:
        s = self.steps
        self.push_screen(MatrixScreen(Heatmap(
            f"Weights of layer {self.layer}, head {self.head} (rows: queries, columns: keys)",
            self.labels, s.weights, per_row=True, masked=s.mask, columns=self.labels,
            caption="each cell shaded by its share of the row's largest weight; "
                    "m, q or Esc closes")))

    def action_keys(self) -> None:
        self.push_screen(KeysScreen())

    def action_edit(self) -> None:
        def done(text: str | None) -> None:
            if text is not None and text.strip() and text != self.session.text:
                self.rebuild(text)

        self.push_screen(EditScreen(self.session.text), done)

    @work(thread=True, exclusive=True)
    def rebuild(self, text: str) -> None:
        """The new sentence worked out off the screen's thread (a model runs again), then
        handed to the screen's thread, which alone changes what the session shows."""
        self.call_from_thread(self.query_one("#status", Static).update,
                              Text(" working out the new sentence…", style="reverse"))
        try:
            self.session.explain(text)  # computed and cached here, not on the screen's thread
        except AttnError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            self.call_from_thread(self.redraw)
            return
        self.call_from_thread(self.after_rebuild, text)

    def after_rebuild(self, text: str) -> None:
        self.session.retext(text)
        self.knocked = None  # a knock-out belongs to the sentence it was made on
        self.say("")
        self.set_reactive(Explorer.query_row, self.opening_query())
        self.set_reactive(Explorer.key, 0)
        self.fill_lists()
        self.follow_query()
        self.redraw()
        self.show_strongest()

    def action_save(self) -> None:
        """The screen as an SVG picture, attn-explore-N.svg in the folder it started in (the
        first N not taken; written whole, never over another file)."""
        from attncli.files import atomic_write
        from attncli.render.console import local_svg

        svg = local_svg(self.export_screenshot(title="attn explore")).encode("utf-8")
        n = 1
        while True:
            path = self.save_dir / f"attn-explore-{n}.svg"
            try:
                if not path.exists():
                    atomic_write(path, svg)
                    break
            except AttnError as exc:
                if path.exists():  # taken meanwhile: the next number
                    n += 1
                    continue
                self.notify(str(exc), severity="error")
                return
            n += 1
        self.notify(f"saved {path}")


def _small(x: float) -> str:
    """A largest change: 0 when exactly 0, else in e-notation."""
    return "0" if x == 0 else f"{x:.1e}"


def as_text(renderable: RenderableType, width: int) -> Text:
    """A renderable laid out by rich at width, as styled text: the widgets of `attn explain`
    draw in the explorer exactly as they do in the terminal."""
    import io

    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", highlight=False, markup=False, emoji=False)
    text = Text(no_wrap=True, overflow="crop")
    for k, line in enumerate(console.render_lines(renderable, console.options, pad=False)):
        if k:
            text.append("\n")
        for segment in line:
            text.append(segment.text, segment.style)
    return text
