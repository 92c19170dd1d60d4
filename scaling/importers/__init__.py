"""Importers: foreign formats to the run table (docs/run-table.md in the repository).

- `scaling.importers.epoch`: Epoch AI's extraction of the Chinchilla runs (CSV).
"""
