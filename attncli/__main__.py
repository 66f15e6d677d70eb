"""`python -m attncli` runs the same CLI as `attn`."""

from attncli.cli import main

main()
