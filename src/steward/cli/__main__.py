"""``python -m steward.cli`` runs the command line, as it did when the CLI was one module."""

from steward.cli import main

main()
