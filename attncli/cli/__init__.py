"""The `attn` command line: the commands, their shared options, the sources (options ->
result) and the exit-code plumbing. Nothing below this package names a command-line option."""

from attncli.cli.commands import app, main

__all__ = ["app", "main"]
