"""The options that give each role's value: below the CLI, messages name roles ("the query
word"); here they name the option a user typed (`--from`)."""

from __future__ import annotations

from collections.abc import Iterable

from attncli.errors import Names, reworded

OPTION = {  # role (attncli.errors.ROLES) -> the option that gives it
    "focus": "--focus", "query": "--from", "key": "--to", "word_a": "--word",
    "word_b": "--word", "toward": "--toward", "rollout": "--rollout", "role": "--role",
    "layer": "--layer", "head": "--head", "d_model": "--d-model", "d_k": "--d-k", "d_v": "--d-v",
    "heads": "--heads", "ablate": "--ablate", "ablate_mode": "--ablate-mode", "token": "--token",
    "vs": "--vs", "corrupt": "--corrupt",
    "at": "--at", "target": "--target",
}
IN_TEXT = {"word_a": "TEXT_A", "word_b": "TEXT_B"}  # one option, looked up in either text


class Options(Names):
    """The roles named by their options: "--from 'cat'", "--word (in TEXT_A) 'bank'"."""

    def __call__(self, role: str) -> str:
        if role not in OPTION:  # no option gives it: its plain name
            return super().__call__(role)
        return f"{OPTION[role]} (in {IN_TEXT[role]})" if role in IN_TEXT else OPTION[role]

    def give(self, role: str, value: str) -> str:
        return f"{OPTION[role]} '{value}'" if role in OPTION else super().give(role, value)


OPTIONS = Options()


def said(text: str) -> str:
    """A message or note from below the CLI, naming options where it names roles."""
    return reworded(text, OPTIONS)


def said_all(texts: Iterable[str]) -> tuple[str, ...]:
    """Each note, naming options where it names roles."""
    return tuple(said(text) for text in texts)
