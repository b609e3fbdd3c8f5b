"""``python cli.py ...`` runs the same command line as ``symbolic-v2m ...``."""

from symbolic_v2m.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
