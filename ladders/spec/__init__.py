"""Ladder specs (TOML): their schema, their rungs and their cost.

A spec names sizes × token budgets × vocabularies × schedules × seeds; every combination is one
rung, i.e. one training run (and the smallest sizes' rungs again with each repeat seed). `ladders/specs/cpu-tiny.toml` is a complete one, and docs/ladders.md's
table (`python -m ladders.spec` prints it) lists every key with its type, default and meaning.

    schema.py   one typed dataclass per TOML section, each with the checks of its values
    loading.py  `load_spec` reads and checks a file (or a bundled spec by name,
                `bundled_specs`), `dump_toml` writes a spec derived from another
    rungs.py    `expand`: the spec's rungs, a branched ladder's stable runs and branches
    corpus_check.py  `check_corpus`: what only the data can tell, before any rung runs
    cost.py     `estimate` (--dry-run), `compute` and `compute_line` (branches vs dedicated runs)
    docs.py     `schema_markdown`: the schema as the key table of docs/ladders.md

Unknown keys, wrong types, impossible values and missing files are `SpecError`s: one line naming
the file and the key, exit 2 from the CLI.
"""

from ladders.spec.cost import (DEFAULT_BYTES_PER_SECOND, DEFAULT_FLOPS_PER_SECOND, compute,
                               compute_line, estimate)
from ladders.spec.rungs import Rung, expand
from ladders.spec.docs import schema_markdown
from ladders.spec.loading import bundled_specs, dump_toml, find_spec, load_spec, spec_summary
from ladders.spec.schema import Spec, SpecError

__all__ = ["DEFAULT_BYTES_PER_SECOND", "DEFAULT_FLOPS_PER_SECOND", "Rung", "Spec", "SpecError", "bundled_specs", "compute",
           "compute_line", "dump_toml", "estimate", "expand", "find_spec", "load_spec",
           "schema_markdown", "spec_summary"]
