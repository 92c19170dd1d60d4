"""Importers: foreign formats to the run table (docs/run-table.md in the repository).

- `scaling.importers.epoch`: Epoch AI's extraction of the Chinchilla runs (CSV).
- `scaling.importers.lm_eval`: lm-eval-harness result JSONs (with a `pythia` preset).
- `scaling.importers.wandb`: W&B CSV exports (history tables, chart panels), with a mapping.
"""
