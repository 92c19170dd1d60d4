"""`python -m scaling` is the `scaling` command."""

import sys

from cli import main

sys.exit(main())
