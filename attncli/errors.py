"""The one error type a user can act on."""


class AttnError(Exception):
    """A usage or input problem: the CLI prints its message on one line and exits with code 2."""
