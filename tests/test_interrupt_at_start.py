"""Ctrl-C while attn is still loading its modules exits 130 with nothing on stderr, as it does
later on. The interrupt is raised at a chosen import (deterministic, unlike a timed signal)."""

from __future__ import annotations

import subprocess
import sys

import pytest

INTERRUPT_AT = """
import sys
WHEN = {module!r}

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == WHEN:
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["attn", "explain", "The animal was tired"]
from attncli.cli import main
main()
"""


@pytest.mark.parametrize("module", ["typer", "numpy", "rich.console", "attncli.cli.commands",
                                    "attncli.explain", "attncli.render.explain"])
def test_ctrl_c_while_loading_exits_130_quietly(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", INTERRUPT_AT.format(module=module)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, ""), done.stderr[-800:]
