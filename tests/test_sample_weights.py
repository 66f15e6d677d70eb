"""The sample weights ship inside the package (attncli/sample_weights/, real files: a symbolic
link checks out as a text file on Windows) and stand at the top of the repository for readers
(sample_weights/): the two folders hold the same files, byte for byte."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP, SHIPPED = ROOT / "sample_weights", ROOT / "attncli" / "sample_weights"


def test_the_shipped_samples_are_the_readers_samples_byte_for_byte() -> None:
    top = {p.name: p.read_bytes() for p in TOP.glob("*.json")}
    shipped = {p.name: p.read_bytes() for p in SHIPPED.glob("*.json")}
    assert top and top == shipped, "copy sample_weights/*.json into attncli/sample_weights/"


def test_no_symbolic_links_in_the_package_or_the_samples() -> None:
    links = [p for base in (ROOT / "attncli", TOP) for p in [base, *base.rglob("*")]
             if p.is_symlink()]
    assert links == []
