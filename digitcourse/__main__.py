"""`python -m digitcourse ...`: the same as the `digitcourse` command (see digitcourse.cli)."""
import sys

from .cli import main

sys.exit(main())
