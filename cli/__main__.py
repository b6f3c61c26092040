"""`python -m cli` runs the `auditlens` command."""

from cli import main

main()
