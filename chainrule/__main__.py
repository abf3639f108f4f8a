"""`python -m chainrule`: the command line (see chainrule/cli.py)."""
import sys

from .cli import main

sys.exit(main())
