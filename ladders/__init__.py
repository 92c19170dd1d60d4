"""ladders: train ladders of small GPT-style proxy models and log every curve as a run table.

    model.py        the GPT (standard or muP), parameter and FLOP counts
    data.py         corpora, splits, token caches, deterministic batches
    tokenizer.py    bytes and byte-level BPE (trained on the training documents only)
    spec/           the typed TOML schema, rungs and branches, cost
    train.py        one rung: loop, evaluation, rows, checkpoints, resume
    checkpoints.py  saved states and status files
    cores.py        a CPU rung's threads (fixed by the spec) and the CPU's slots
    progress.py     progress bars on a terminal, plain lines in a log
    pool.py         a node full of rungs: one worker process per slot
    launch.py       a whole ladder: local pool, torchrun (DDP) or submitit (Slurm)

It needs the `ladder` extra (torch). Learning-rate schedules live in `scaling.data.schedules` (the
laws read them too); `scaling` never imports `ladders`.
"""
