"""The one error type a user can act on, and the words for what each value given does.

Below the CLI a message names the role a value plays ("the query word", "layer"), never the
option that gave it: a message about a role is Worded, and the CLI rewords it with its own
Names, the options (`--from`, `--layer`).
"""

from __future__ import annotations

from collections.abc import Callable

# role -> its plain name, as messages below the CLI call it
ROLES: dict[str, str] = {
    "focus": "the focus word",  # the tokens whose rows are summed
    "query": "the query word",  # a pair's query (the row)
    "key": "the key word",  # a pair's key (the column)
    "word_a": "the word (in text A)",  # the word compared, as found in each text
    "word_b": "the word (in text B)",
    "toward": "the other word",  # a word the compared word's vectors are measured against
    "rollout": "the rollout's query word",  # the query followed through every layer
    "role": "the role",  # a head role to list (attncli.roles.ROLES)
    "layer": "layer",  # a spec of layers or heads: 'all', 'last', 3 or 0,2
    "head": "head",
    "d_model": "d_model",  # the seeded sizes
    "d_k": "d_k",
    "d_v": "d_v",
    "heads": "heads",
    "ablate": "the heads to knock out",  # LAYER.HEAD pairs (attncli.effects)
    "ablate_mode": "the knock-out mode",
    "token": "the target token",  # the token an effect, or a logit's attribution, is about
    "vs": "the token compared against",
    "corrupt": "the corrupted text",  # patching's other text
    "at": "the position word",  # where the logit lens and attribution read the stream
    "target": "the target text",  # an encoder-decoder's decoder text (predict)
}


class Names:
    """What messages call each role: here its plain name (ROLES); the CLI's Names call it by
    the option that gives it."""

    def __call__(self, role: str) -> str:
        """The role's name: "the query word" (a role not in ROLES is its own name)."""
        return ROLES.get(role, role)

    def give(self, role: str, value: str) -> str:
        """How a user gives value for role, to show in a hint: here the value, quoted."""
        return f"'{value}'"


PLAIN = Names()
Say = Callable[[Names], str]  # a message, given what to call the roles


class Worded(str):
    """Text naming roles: it reads with their plain names, and reworded() says it with
    other Names."""

    say: Say

    def __new__(cls, say: Say) -> Worded:
        text = super().__new__(cls, say(PLAIN))
        text.say = say
        return text


def reworded(text: str, names: Names) -> str:
    """text said with names, when it is Worded; any other text as it is."""
    return text.say(names) if isinstance(text, Worded) else text


class AttnError(Exception):
    """A usage or input problem: the CLI prints its message on one line and exits with code 2."""


class RoleError(AttnError):
    """A value given for a role is refused: the message names the role (Worded), and the CLI
    rewords it to name the option."""

    def __init__(self, say: Say) -> None:
        self.text = Worded(say)
        super().__init__(self.text)

    def reworded(self, names: Names) -> str:
        """The message, with names for the roles."""
        return self.text.say(names)


class TargetExists(AttnError):
    """A file attn would create is already there: the CLI adds how to replace it anyway."""
