"""The one error type a user can act on."""


class AttnError(Exception):
    """A usage or input problem: the CLI prints its message on one line and exits with code 2."""


class TargetExists(AttnError):
    """A file attn would create is already there: the CLI adds how to replace it anyway."""
