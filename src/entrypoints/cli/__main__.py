"""`python -m entrypoints.cli` runs the `saascore` command."""

from entrypoints.cli.main import main

main()
