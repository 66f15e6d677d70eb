"""`attn demo`: a guided lesson on self-attention, one screen at a time, with live numbers.

course.py says what each screen of the worked examples shows (through the same results and
views as `attn explain` and `attn heads`), yours.py part 5 (a real model, or your own
sentence), blocks.py what both build screens from, screens.py lays a screen out in pages that
fit the terminal, and keys.py is the key loop.
"""

from attncli.demo.course import SENTENCE, find_word, lesson, short_name
from attncli.demo.keys import Place, play, press
from attncli.demo.screens import Screen

__all__ = ["SENTENCE", "Place", "Screen", "find_word", "lesson", "play", "press", "short_name"]
