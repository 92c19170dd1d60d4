"""`python -m scaling` is the `scaling` command (cli.py); nothing imports this module."""

import sys

from cli import main

sys.exit(main())
