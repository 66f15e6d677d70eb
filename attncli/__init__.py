"""attncli: see self-attention work, step by step, with its numbers, in the terminal.

The Python API (attncli/api.py): attncli.load_model, attncli.explain and attncli.heads.
They load on first use, so that `import attncli` (and `attn`'s start) stays quick.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attncli.api import explain, heads, load_model

__version__ = "0.2.0"
__all__ = ["__version__", "explain", "heads", "load_model"]
API = frozenset({"explain", "heads", "load_model"})  # the names attncli.api gives the package


def __getattr__(name: str) -> object:
    """The API's functions, imported when first asked for."""
    if name in API:
        from attncli import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(ModuleType):
    """attncli itself. Importing attncli.explain or attncli.heads (the modules) would make
    them the package's attributes of those names, hiding the API's functions: those names
    stay the functions, and the modules are imported by their full names
    (`from attncli.explain import Explanation`)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in API and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
