"""`python -m scaling` is the `scaling` command (scaling/cli/); nothing imports this module."""

from scaling.cli import main

raise SystemExit(main())
