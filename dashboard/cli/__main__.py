"""`python -m dashboard.cli` runs the `auditlens` command."""

from dashboard.cli import main

main()
