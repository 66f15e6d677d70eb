"""The explorer's overlays: the heads grid (g), the whole weights matrix (m), the keys (?)
and the sentence editor (e). Each shows what the explorer hands it and returns a choice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from attncli.render.heads import ROLE_CODES, ROLE_NAMES, percent_down

if TYPE_CHECKING:
    import numpy as np
    from textual import events

KEYS = (  # each line fits an 80-column terminal, in its box
    ("↑ / ↓", "the query token (after Tab, the key token)"),
    ("Tab", "the next of: query list, key list, sums"),
    ("← / →", "previous / next head"),
    ("[ / ]", "previous / next layer"),
    ("g", "every head's weight for this pair; Enter jumps to one"),
    ("m", "this head's weights as a heat map"),
    ("c", "causal mask on or off (seeded and file weights)"),
    ("p", "sinusoidal positions on or off (likewise)"),
    ("e", "edit the sentence; Enter works it out again"),
    ("s", "save the screen as an SVG picture"),
    ("a", "knock out this head: the prediction before → after"),
    ("n / b", "generate the next token / take the last one back"),
    ("?", "this list; any key closes it"),
    ("Esc", "close what is open (this list, g, m, e); never quits"),
    ("q", "quit"),
)


class GridScreen(ModalScreen[tuple[int, int] | None]):
    """Layers × heads: how much the query gives the key in each head; Enter jumps to one."""

    BINDINGS = [Binding("escape,q,g", "close", "close")]

    def __init__(self, layers: list[int], heads: list[int], weights: np.ndarray, base: np.ndarray,
                 at: tuple[int, int], a: str, b: str,
                 roles: list[list[tuple[str, float]]] | None = None) -> None:
        super().__init__()
        self.layer_ids, self.head_ids, self.weights, self.base = layers, heads, weights, base
        self.at, self.a, self.b = at, a, b
        self.roles = roles  # [layer][head] (strongest role, its score), as `attn heads`

    def compose(self) -> ComposeResult:
        with Vertical(id="grid-box"):
            yield Static(Text.assemble(
                "How much “", (self.a, "bold"), "” gives “", (self.b, "bold"),
                "” in each head, in percent (rows: layers, columns: heads)"
                + (", and the head's strongest role" if self.roles else "")
                + ". Enter or a click jumps to a head; Esc closes."), id="grid-title")
            yield DataTable(id="grid", zebra_stripes=False)
            yield Static(id="grid-baseline")

    def on_mount(self) -> None:
        table = self.query_one("#grid", DataTable)
        table.add_column("layer", key="layer")
        for h in self.head_ids:
            table.add_column(f"h{h}", key=str(h))
        for i, layer in enumerate(self.layer_ids):
            marks = ([f" {ROLE_CODES[r]}" for r, _ in self.roles[i]] if self.roles
                     else [""] * len(self.head_ids))
            table.add_row(str(layer), *(f"{100 * w:.0f}{m}" for w, m in
                                        zip(self.weights[i], marks, strict=True)),
                          key=str(layer))
        row, col = self.layer_ids.index(self.at[0]), self.head_ids.index(self.at[1])
        table.move_cursor(row=row, column=col + 1)
        table.focus()
        self.show_baseline(row, col)

    def show_baseline(self, row: int, col: int) -> None:
        if not 0 <= col < len(self.head_ids):
            return
        w, b = self.weights[row, col], self.base[row, col]
        self.query_one("#grid-baseline", Static).update(Text(
            f"layer {self.layer_ids[row]}, head {self.head_ids[col]}: {100 * w:.1f}%, while the "
            f"tokens that see it give “{self.b}” {100 * b:.1f}% on average "
            f"({100 * (w - b):+.1f})." + self.role_words(row, col)))

    def role_words(self, row: int, col: int) -> str:
        """The head's strongest role in words, and the codes the grid shows."""
        if not self.roles:
            return ""
        role, score = self.roles[row][col]
        shown = {r for line in self.roles for r, _ in line}
        codes = ", ".join(f"{c} {ROLE_NAMES[r]}" for r, c in ROLE_CODES.items() if r in shown)
        percent = percent_down(score)  # as `attn heads`' grid: 39.87% is 39, not 40
        said = (f"no role holds (highest {percent:.0f}%)" if role == "mixed"
                else f"{ROLE_NAMES[role]} {percent:.0f}%")
        return f" Role: {said}. ({codes}; as `attn heads` marks them.)"

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self.show_baseline(event.coordinate.row, event.coordinate.column - 1)

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        row, col = event.coordinate.row, event.coordinate.column - 1
        if 0 <= col < len(self.head_ids):
            self.dismiss((self.layer_ids[row], self.head_ids[col]))

    def action_close(self) -> None:
        self.dismiss(None)


class MatrixScreen(ModalScreen[None]):
    """The whole weights matrix of the current head, as a heat map."""

    BINDINGS = [Binding("escape,q,m", "close", "close")]

    def __init__(self, view: RenderableType) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="matrix-box"):
            yield Static(self.view)

    def action_close(self) -> None:
        self.dismiss(None)


class KeysScreen(ModalScreen[None]):
    """The keys, on top of the explorer; any key closes it (Esc and ? too), and only closes
    it."""

    def compose(self) -> ComposeResult:
        lines = Text("Keys\n\n", style="bold")
        for key, does in KEYS:
            lines.append(f"{key:>7}  ", style="bold")
            lines.append(does + "\n")
        lines.append("\nthe mouse works too: click a token, or a cell of the grid", style="dim")
        yield Static(lines, id="keys-box")

    def on_key(self, event: events.Key) -> None:
        event.prevent_default()  # the key only closes the list: q does not also quit
        event.stop()
        self.dismiss(None)


class EditScreen(ModalScreen[str | None]):
    """The sentence, to edit: Enter works it out again, Esc keeps the old one."""

    BINDINGS = [Binding("escape", "close", "close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-box"):
            yield Static("Edit the sentence: Enter works it out, Esc keeps the old one.")
            yield Input(value=self.text, id="edit")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_close(self) -> None:
        self.dismiss(None)
