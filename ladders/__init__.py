"""ladders: train ladders of small GPT-style proxy models and log every curve as a run table.

The runner (model, data, schedules, training, launchers) is built in its own issue; this package
exists so that the distribution's layout is fixed from the start. It needs the `ladder` extra
(torch); `import scaling` never imports it.
"""
