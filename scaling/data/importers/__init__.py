"""Importers: foreign formats to the run table (docs/run-table.md in the repository).

- `scaling.data.importers.epoch`: Epoch AI's extraction of the Chinchilla runs (CSV).
- `scaling.data.importers.lm_eval`: lm-eval-harness result JSONs (with a `pythia` preset).
- `scaling.data.importers.wandb`: W&B CSV exports (history tables, chart panels), with a mapping.
"""
