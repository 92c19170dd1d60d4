"""Importers: foreign formats to the run table (../shared/docs/run-table.md).

- `scaling.importers.epoch`: Epoch AI's extraction of the Chinchilla runs (CSV).
"""
