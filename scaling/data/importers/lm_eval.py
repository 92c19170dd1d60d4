"""lm-eval-harness result JSONs to the run table.

One JSON (the harness's `--output_path` file: `results`, `versions`, `config`) is one row: one
model at one checkpoint, evaluated with one few-shot setting.

- `run`: the model, `pretrained=` of `config.model_args` (as written, e.g.
  `EleutherAI/pythia-v1.1-410m`; the `pythia` preset names it `pythia-410m`).
- `step`: `revision=stepN` of `config.model_args` (or harness 0.4's `config.model_revision`),
  else the `step` given; `tokens` = step ×
  tokens per step. Rows at step 0 (no tokens: the contract needs tokens > 0) are dropped, with a
  note. A step beyond 1e17 (the run table's largest tokens) is an error, not a checkpoint.
- `shots`: `config.num_fewshot` (the config is trusted, not the file name), else harness 0.4's
  per-task `n-shot` when every task has the same (else empty); a whole number 0 to 10,000
  (5.0 and "5" read as 5; 5.5, -1, 1e300, Infinity are errors). One table holds one
  few-shot setting: files with several need `shots` to pick one (the others are skipped, with a
  note); a run at one step from two files is an error naming both.
- For each task of `results`: `acc:<task>` = the task's `acc` (`metrics` picks another per task,
  `{"*": "acc_norm"}` for every task that has one; the plain `acc` is then kept as
  `acc_raw:<task>`); every other numeric metric as `<metric>:<task>` (`acc_norm:piqa`,
  `acc_stderr:piqa`); a perplexity (`ppl`, or `perplexity` in newer harness versions), which
  must be above 1 (e^loss, loss > 0), also gives
  `loss:<task>` = ln(ppl), in nats per unit of the task's perplexity: for `lambada_openai` the
  harness's perplexity of the target word (the continuation), so nats per target word, not per
  token. Newer harness metric names `acc,none` are read as `acc`.
- Groups: harness 0.4 writes a group's aggregate (`mmlu`, `mmlu_stem`) in `groups` (or in
  `results`, by version); it is read as a task, `acc:mmlu` = the group's `acc`, as the harness
  aggregated it. Older harnesses' `hendrycksTest-<subject>` tasks: `acc:mmlu` = the unweighted
  mean of the subjects' `acc:` values and `mmlu_n_subjects` their number.
- `loss`, required by the contract: lm-eval reports no language-model loss, so it is a stand-in,
  the task loss of `loss_task` (default `lambada_openai` when it reports a perplexity, else the
  first such task by name), and the column `loss_task` names the task. A file with no perplexity
  task cannot make a run table.
- `params`: a mapping model → N (`run` id or the last `/` part of `pretrained=`), or a preset;
  one model given two counts (one name twice, or two of its names) is an error naming both.
- The JSON is read guarded: nesting too deep for the parser, or an integer no float holds
  (`10**400`), is a one-line error naming the file (and line), like invalid JSON.
- `source_file`: the JSON's path relative to the folder it was found under (its name when it was
  given as a file).

The `pythia` preset (EleutherAI's Pythia suite, Biderman et al. 2023, arXiv:2304.01373) knows the
8 sizes: `params` = `params_nonembed` = the non-embedding parameter count 12·d²·L + 13·d·L + 2·d
of GPT-NeoX (per layer: QKV and output projections 4d² + 4d, MLP 8d² + 5d, two LayerNorms 4d;
plus the final LayerNorm 2d), which equals the paper's Table 1, and 2,097,152 tokens a step
(1024 sequences of 2048 tokens). It adds the columns `size`, `deduped`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scaling.data import runs as run_tables
from scaling.data import table_files
from scaling.errors import ScalingError
from scaling.data.json_input import read_json

MMLU_PREFIX = "hendrycksTest-"
PERPLEXITY = ("ppl", "perplexity")
DEFAULT_LOSS_TASK = "lambada_openai"

# Pythia: size -> (layers, d_model), from the Pythia README / paper Table 1.
PYTHIA_ARCHITECTURE = {
    "70m": (6, 512), "160m": (12, 768), "410m": (24, 1024), "1b": (16, 2048),
    "1.4b": (24, 2048), "2.8b": (32, 2560), "6.9b": (32, 4096), "12b": (36, 5120),
}
PYTHIA_TOKENS_PER_STEP = 2_097_152  # 1024 sequences × 2048 tokens
# `EleutherAI/pythia-v1.1-410m-deduped`, `pythia-1b-bf16` (the standard 1B, trained in bf16),
# `pythia-70m`; not the batch-size ablations (`-0.5MtokBS`: other tokens per step).
PYTHIA_NAME = re.compile(r"^(?:.*/)?pythia(?:-v\d+(?:\.\d+)?)?-(?P<size>[0-9.]+[mb])"
                         r"(?P<deduped>-deduped)?(?P<bf16>-bf16)?$")


def pythia_nonembedding(layers: int, width: int) -> int:
    """GPT-NeoX's non-embedding parameters: 12·d²·L + 13·d·L + 2·d."""
    return 12 * width * width * layers + 13 * width * layers + 2 * width


PYTHIA_PARAMS = {size: pythia_nonembedding(*shape) for size, shape in PYTHIA_ARCHITECTURE.items()}


@dataclass
class Preset:
    name: str
    tokens_per_step: float
    describe: str

    def model(self, pretrained: str, path) -> dict:
        """The run id, params and extra columns of a model, or a one-line error."""
        raise NotImplementedError


class PythiaPreset(Preset):
    def model(self, pretrained: str, path) -> dict:
        match = PYTHIA_NAME.match(pretrained)
        if not match or match["size"] not in PYTHIA_PARAMS or (match["bf16"] and match["deduped"]):
            raise ScalingError(f"{path}: model {pretrained!r} is not one of the preset pythia's "
                               f"models (pythia-SIZE[-deduped], SIZE one of "
                               f"{', '.join(PYTHIA_PARAMS)}); give --params {pretrained}=N "
                               "and --tokens-per-step instead")
        size, deduped = match["size"], bool(match["deduped"])
        return {"run": f"pythia-{size}{'-deduped' if deduped else ''}",
                "params": float(PYTHIA_PARAMS[size]),
                "extra": {"size": size, "deduped": deduped,
                          "params_nonembed": float(PYTHIA_PARAMS[size])}}


PRESETS = {"pythia": PythiaPreset("pythia", PYTHIA_TOKENS_PER_STEP,
                                  "EleutherAI's Pythia suite: 8 sizes, standard and deduped")}


@dataclass
class Evaluation:
    path: Path
    source: str
    pretrained: str
    step: int
    shots: int | None
    results: dict = field(default_factory=dict)


def parse_pairs(items, option: str, value_type=str) -> dict:
    """`["piqa=acc_norm", ...]` → `{"piqa": "acc_norm"}`; `value_type=float` for `MODEL=N`."""
    pairs: dict = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key, value = key.strip(), value.strip().strip("'\"")
        if not sep or not key or not value:
            raise ScalingError(f"bad {option} {item!r}: expected NAME=VALUE")
        if value_type is float:
            try:
                number = float(value)
            except ValueError:
                raise ScalingError(f"bad {option} {item!r}: {value!r} is not a number") from None
            if not math.isfinite(number) or number <= 0:
                raise ScalingError(f"bad {option} {item!r}: must be a positive number")
            run_tables.check_sensible_inputs([number], "params", option)
            value = number
        if key in pairs and pairs[key] != value:
            raise ScalingError(f"{option} {key} is given twice, as {_pair_value(pairs[key])} and "
                               f"{_pair_value(value)}: give it once")
        pairs[key] = value
    return pairs


def _pair_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def find_files(paths) -> list[tuple[Path, str]]:
    """Every JSON to read, with its name relative to the folder it was found under: a file as
    given, a folder searched recursively for `*.json` (in sorted order)."""
    found: list[tuple[Path, str]] = []
    if not paths:
        raise ScalingError("no lm-eval result files given")
    for given in map(Path, paths):
        if given.is_dir():
            files = sorted(p for p in given.rglob("*.json") if p.is_file())
            if not files:
                raise ScalingError(f"{given}: no .json files in this folder")
            found += [(p, p.relative_to(given).as_posix()) for p in files]
        elif given.exists():
            found.append((given, given.name))
        else:
            raise ScalingError(f"{given}: no such file or folder")
    return found


def read_evaluation(path: Path, source: str, step: int | None = None) -> Evaluation:
    """One result JSON: its model, step, few-shot setting and results, or a one-line error."""
    document = read_json(path, "an lm-eval-harness result file")
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise ScalingError(f"{path}: not an lm-eval-harness result file (no 'results' object)")
    config = document.get("config")
    if not isinstance(config, dict) or "model_args" not in config:
        raise ScalingError(f"{path}: no 'config.model_args': cannot tell which model was "
                           "evaluated")
    arguments = _model_arguments(config["model_args"])
    pretrained = arguments.get("pretrained")
    if not pretrained:
        raise ScalingError(f"{path}: config.model_args has no pretrained=MODEL "
                           f"({config['model_args']!r})")
    revision = re.fullmatch(r"step([0-9]+)", arguments.get("revision")
                            or str(config.get("model_revision") or ""))
    if revision:
        checkpoint = _checked_step(int(revision.group(1)), path,
                                   f"revision=step{_shown(revision.group(1))}")
    elif step is not None:
        checkpoint = _checked_step(step, path, f"--step {step}")
    else:
        raise ScalingError(f"{path}: config.model_args has no revision=stepN "
                           f"({config['model_args']!r}); give the checkpoint's --step")
    results = dict(document["results"])
    groups = document.get("groups")             # harness 0.4: a group's aggregate (`mmlu`)
    if isinstance(groups, dict):
        for name, metrics in groups.items():
            results.setdefault(name, metrics)
    return Evaluation(path, source, pretrained, checkpoint, _shots(document, config, path),
                      results)


MAX_STEP = int(run_tables.SENSIBLE["tokens"][1])   # a step is at least a token: 1e17
MAX_SHOTS = 10_000                                   # few-shot examples in one prompt


def _shown(digits: str) -> str:
    return digits if len(digits) <= 20 else f"{digits[:17]}... ({len(digits)} digits)"


def _checked_step(step: int, path, what: str) -> int:
    """A checkpoint step the run table can hold: 0 to MAX_STEP (tokens = step × T)."""
    if not 0 <= step <= MAX_STEP:
        raise ScalingError(f"{path}: {what}: a step must be 0 to {MAX_STEP:.0e} (the run "
                           "table's largest tokens), not a checkpoint")
    return step


def _model_arguments(model_args) -> dict[str, str]:
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    arguments = {}
    for part in str(model_args).split(","):
        key, _, value = part.partition("=")
        arguments[key.strip()] = value.strip()
    return arguments


def _shots(document: dict, config: dict, path) -> int | None:
    shots = config.get("num_fewshot")
    if shots is None and isinstance(document.get("n-shot"), dict):   # harness 0.4: per task
        values = {_checked_shots(v, path, f"n-shot[{task!r}]")
                  for task, v in document["n-shot"].items()
                  if isinstance(v, int) and not isinstance(v, bool)}   # groups may say "N/A"
        return values.pop() if len(values) == 1 else None
    if shots is None:
        return None
    return _checked_shots(shots, path, "config.num_fewshot")


def _checked_shots(value, path, field: str) -> int:
    """A few-shot count: a whole number 0 to MAX_SHOTS (a number, or its digits as text)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if (isinstance(number, bool) or not isinstance(number, (int, float))
            or not math.isfinite(number) or number != int(number)
            or not 0 <= number <= MAX_SHOTS):
        shown = repr(value) if len(repr(value)) <= 30 else repr(value)[:27] + "..."
        raise ScalingError(f"{path}: {field} = {shown}: expected a whole number of few-shot "
                           f"examples, 0 to {MAX_SHOTS:,}")
    return int(number)


def _metric_name(name: str) -> str:
    """`acc,none` (newer harness: metric,filter) → `acc`; `exact_match,strict-match` →
    `exact_match_strict-match`."""
    metric, _, filter_name = name.partition(",")
    return metric if filter_name in ("", "none") else f"{metric}_{filter_name}"


def task_values(evaluation: Evaluation, metrics: dict[str, str],
                stderr: bool = True) -> dict[str, float]:
    """The columns of one evaluation's results (see the module's docstring)."""
    path = evaluation.path
    values: dict[str, float] = {}
    subjects = []
    for task in sorted(evaluation.results):
        raw = evaluation.results[task]
        if not isinstance(raw, dict):
            raise ScalingError(f"{path}: results[{task!r}] is not an object of metrics")
        numbers = {}
        for name, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue  # `alias` and other text
            if not stderr and _metric_name(name).endswith("_stderr"):
                continue
            numbers[_metric_name(name)] = float(value)
        chosen = metrics.get(task, metrics.get("*", "acc"))
        if chosen not in numbers:
            if task in metrics:
                raise ScalingError(f"{path}: --metric {task}={chosen}: task {task!r} has no "
                                   f"metric {chosen!r} (it has {', '.join(numbers)})")
            chosen = "acc"
        for name, value in numbers.items():
            if name == chosen:
                continue
            column = f"acc_raw:{task}" if name == "acc" else f"{name}:{task}"
            values[column] = value
        if chosen in numbers:
            accuracy = numbers[chosen]
            if not (math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0):
                raise ScalingError(f"{path}: task {task!r}, metric {chosen!r}: accuracy "
                                   f"{accuracy:g} is outside [0, 1]")
            values[f"acc:{task}"] = accuracy
            if task.startswith(MMLU_PREFIX):
                subjects.append(accuracy)
        perplexity = next((numbers[p] for p in PERPLEXITY if p in numbers), None)
        if perplexity is not None:
            if not (math.isfinite(perplexity) and perplexity > 1):
                raise ScalingError(f"{path}: task {task!r}: perplexity {perplexity:g} is not a "
                                   "finite number above 1 (a perplexity is e^loss, and a loss "
                                   "is above 0); is this metric a perplexity?")
            values[f"loss:{task}"] = math.log(perplexity)
    if subjects:
        values["acc:mmlu"] = math.fsum(subjects) / len(subjects)
        values["mmlu_n_subjects"] = float(len(subjects))
    return values


def read_lm_eval(paths, params: dict[str, float] | None = None, preset: str | None = None,
                 tokens_per_step: float | None = None, shots: int | None = None,
                 metrics: dict[str, str] | None = None, step: int | None = None,
                 loss_task: str | None = None, stderr: bool = True) -> pd.DataFrame:
    """lm-eval-harness result JSONs (files, or folders searched recursively) as a validated run
    table, sorted by params, run and step. `frame.attrs["notes"]` holds what was dropped or
    skipped; `attrs["files"]` the number of files read. `stderr=False` leaves out the
    `<metric>_stderr` metrics (they double the table's width)."""
    params = dict(params or {})
    metrics = dict(metrics or {})
    chosen_preset = None
    if preset is not None:
        if preset not in PRESETS:
            raise ScalingError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        chosen_preset = PRESETS[preset]
    if tokens_per_step is None and chosen_preset is not None:
        tokens_per_step = chosen_preset.tokens_per_step
    if tokens_per_step is not None and not (math.isfinite(tokens_per_step)
                                            and tokens_per_step > 0):
        raise ScalingError(f"--tokens-per-step must be a positive number, got {tokens_per_step:g}")
    files = find_files(paths)
    evaluations = [read_evaluation(path, source, step) for path, source in files]
    notes: list[str] = []

    settings = sorted({e.shots for e in evaluations}, key=lambda s: (s is None, s))
    if shots is not None:
        kept = [e for e in evaluations if e.shots == shots]
        if not kept:
            raise ScalingError(f"{files[0][0]}: no file has num_fewshot {shots} (the files have "
                               f"{', '.join(map(str, settings))})")
        if len(kept) < len(evaluations):
            notes.append(f"skipped {len(evaluations) - len(kept)} files with num_fewshot other "
                         f"than {shots}")
        evaluations = kept
    elif len(settings) > 1:
        first = next(e for e in evaluations if e.shots == settings[0])
        other = next(e for e in evaluations if e.shots == settings[1])
        raise ScalingError(f"{other.path}: num_fewshot {other.shots}, but {first.path} has "
                           f"{first.shots}; one table holds one few-shot setting: give --shots "
                           + " or --shots ".join(str(s) for s in settings if s is not None))

    if tokens_per_step is None:
        raise ScalingError(f"{evaluations[0].path}: tokens = step × tokens per step: give "
                           "--tokens-per-step T (or a --preset)")

    rows = []
    seen: dict[tuple[str, int], Path] = {}
    for evaluation in evaluations:
        model = _model(evaluation, params, chosen_preset)
        key = (model["run"], evaluation.step)
        if key in seen:
            raise ScalingError(f"{evaluation.path}: run {model['run']!r} at step "
                               f"{evaluation.step} is also in {seen[key]}; a run has one row "
                               "per checkpoint: remove one")
        seen[key] = evaluation.path
        values = task_values(evaluation, metrics, stderr)
        row = {"run": model["run"], "params": model["params"],
               "tokens": float(evaluation.step) * tokens_per_step,
               "loss": _loss(evaluation, values, loss_task),
               "step": evaluation.step, "shots": evaluation.shots,
               **model["extra"], "loss_task": None, "source_file": evaluation.source}
        row["loss"], row["loss_task"] = row["loss"]
        rows.append((row, values))
    stand_ins = {row["loss_task"] for row, _ in rows}
    if len(stand_ins) > 1:
        row = next(row for row, _ in rows if row["loss_task"] != rows[0][0]["loss_task"])
        raise ScalingError(f"{evaluations[0].path}: the loss stands in for loss:"
                           f"{rows[0][0]['loss_task']} here but for loss:{row['loss_task']} in "
                           f"{row['source_file']}; give --loss-task TASK, a task every file has")

    zero = [row for row, _ in rows if row["tokens"] <= 0]
    if zero:
        notes.append(f"dropped {len(zero)} rows at step 0 (no tokens seen; the run table needs "
                     "tokens > 0)")
        rows = [(row, values) for row, values in rows if row["tokens"] > 0]
        if not rows:
            raise ScalingError(f"{evaluations[0].path}: every file is a step-0 checkpoint; "
                               "nothing left to import")
    task_columns = sorted({c for _, values in rows for c in values}, key=_column_order)
    records = [{**row, **{c: values.get(c, math.nan) for c in task_columns}}
               for row, values in rows]
    frame = pd.DataFrame.from_records(records)
    if frame["shots"].isna().all():
        frame = frame.drop(columns="shots")
    else:
        frame["shots"] = frame["shots"].astype("Int64")
    frame["step"] = frame["step"].astype("int64")
    frame = frame.sort_values(["params", "run", "step"], kind="stable")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    label = files[0][0] if len(files) == 1 else Path(paths[0])
    frame = run_tables.validate(frame, label)
    frame.attrs.update({"notes": notes, "files": len(evaluations),
                        "source": str(label)})
    return frame


def _column_order(column: str):
    """Task columns by task, then acc, loss, the other metrics by name."""
    metric, _, task = column.partition(":")
    if not task:
        return (column, -1, "")
    rank = {"acc": 0, "loss": 1}.get(metric, 2)
    return (task, rank, metric)


def _model(evaluation: Evaluation, params: dict[str, float], preset) -> dict:
    """The run id, params and extra columns of an evaluation's model: `params` (by run id,
    `pretrained=` value or its last `/` part) wins over a preset's count."""
    pretrained = evaluation.pretrained
    short = pretrained.rstrip("/").rsplit("/", 1)[-1]
    given = _given_params(evaluation, params, (pretrained, short))
    if preset is not None:
        try:
            model = preset.model(pretrained, evaluation.path)
        except ScalingError:
            if given is None:
                raise
        else:
            given = _given_params(evaluation, params, (model["run"], pretrained, short))
            return model if given is None else {**model, "params": given}
    if given is None:
        raise ScalingError(f"{evaluation.path}: model {pretrained!r} has no parameter count: "
                           f"give --params {short}=N (or a --preset)")
    return {"run": pretrained, "params": given, "extra": {}}


def _given_params(evaluation: Evaluation, params: dict[str, float], names) -> float | None:
    """The `--params` of a model by any of its names (run id, `pretrained=`, its last part);
    two names of one model with two counts are an error naming both."""
    found = {name: params[name] for name in dict.fromkeys(names) if name in params}
    if len(set(found.values())) > 1:
        (a, x), (b, y) = list(found.items())[:2]
        raise ScalingError(f"{evaluation.path}: --params {a}={x:g} and --params {b}={y:g} "
                           f"name the same model ({evaluation.pretrained!r}) with two counts: "
                           "give one")
    return next(iter(found.values()), None)


def _loss(evaluation: Evaluation, values: dict[str, float], loss_task: str | None):
    """(the stand-in loss, its task): `loss:<loss_task>`, by default lambada_openai's."""
    available = sorted(c.partition(":")[2] for c in values if c.startswith("loss:"))
    if loss_task is not None:
        if f"loss:{loss_task}" not in values:
            raise ScalingError(f"{evaluation.path}: --loss-task {loss_task}: the task has no "
                               f"perplexity here (tasks with one: {', '.join(available) or 'none'})")
        task = loss_task
    elif f"loss:{DEFAULT_LOSS_TASK}" in values:
        task = DEFAULT_LOSS_TASK
    elif available:
        task = available[0]
    else:
        raise ScalingError(f"{evaluation.path}: no task reports a perplexity, so nothing can "
                           "stand in for the run table's required loss (lm-eval reports no LM "
                           "loss; evaluate lambada_openai too)")
    return values[f"loss:{task}"], task


def convert(paths, target, **options) -> pd.DataFrame:
    """Import lm-eval JSONs (see `read_lm_eval`) and write them as a Parquet run table."""
    frame = read_lm_eval(paths, **options)
    table_files.write_runs(frame, target)
    return frame
