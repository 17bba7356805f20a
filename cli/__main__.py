"""python -m cli: the same as the `ember` command."""

from cli.main import main

main()
