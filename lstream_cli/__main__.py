"""``python -m lstream_cli`` runs the command-line interface."""

from __future__ import annotations

from lstream_cli.cli import main

if __name__ == "__main__":
    main()
