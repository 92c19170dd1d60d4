"""Downstream multiple-choice tasks, scored by ranked classification at every evaluation row.

A task is a list of items: a context (text), options (texts) and the index of the correct
option. The model scores each option by the log-likelihood of the option's tokens given the
context's tokens (context and option encoded separately and concatenated; the context
left-truncated so that context + option fit the model's window). Two numbers per task go into
every evaluation row of a rung (`ladders.train`):

* ``acc:<task>``: the fraction of items whose correct option has the highest log-likelihood per
  character, (sum of the option tokens' log p) / (characters of the option, Python ``len``);
  ties go to the lower index. Chance is 1 / options (0.25 for the built-in tasks).
* ``loss:<task>``: bits per byte of the correct options, pooled over items: the sum over items
  of −Σ log2 p(correct option's tokens | context) divided by the sum of the correct options'
  UTF-8 bytes (total bits / total bytes, not a mean of per-item ratios).

Built-in tasks are made from the HELD-OUT documents of the rung's corpus (the
``data.valid_fraction`` split of ``ladders.corpus.split_corpus``; never training text). An item's
context is the document's text before its answer (its last ``CONTEXT_CHARS`` characters; at
least ``MIN_CONTEXT_CHARS`` = 64 characters of the document come before the answer). Options are
at most ``option_bytes(window)`` = min(3/4 of the window, 120) UTF-8 bytes, so at least a quarter
of the window is context for either tokenizer (a token holds at least one byte). Four options
each (chance 0.25), all distinct after stripping blanks, none blank. In the order of their
accuracy at the largest size of the bundled cpu-tasks ladder, easiest first (0.90, 0.74, 0.56,
0.44; `identifier` beats `same_file_chars` at the two smallest sizes; data/cpu_tasks/SOURCE.md):

* ``next_chars``: a random position of a document; the next 4 characters against 3 spans of 4
  characters at random positions of OTHER held-out documents.
* ``same_file_chars``: the next 16 characters against 3 spans of 16 characters of the SAME
  document, starting within ``NEARBY_CHARS`` = 2000 characters of the answer.
* ``identifier``: a cloze; the context ends just before an identifier (a name of 3 or more
  characters, not a Python keyword, not the first word of its line) and the options are that
  identifier and 3 other identifiers of the same document.
* ``next_line``: the context ends at a line break; the true next line (indentation kept, newline
  dropped, at least 6 non-blank characters) against 3 such lines of OTHER held-out documents.
  Per-character log-likelihood rewards lines that are easy in themselves (a license header, a
  comment of common words), so a model must use the context to beat them.

Building is deterministic: a ``random.Random`` seeded by ``SEED`` and the task's name draws
every choice. The span tasks pick a document uniformly, then a position; ``identifier`` and
``next_line`` shuffle each document's candidates and take the documents in turn. Either way a
few large documents cannot fill a task, and the first ``items`` candidates that make a valid
item are kept (candidates without enough distinct distractors are skipped), so the same
held-out documents, window and item count give the same items.

Your own tasks: a JSONL file, one item a line, ``{"context": str, "options": [str, ...],
"answer": int}`` (the answer's index into options; 2 or more non-empty, distinct options). Its
name is the file's stem, or NAME in a spec entry ``"NAME=path.jsonl"``. Bad input is a one-line
`TaskError` naming the file and line. Names are lowercase letters, digits, '_' and '-'.
"""

from __future__ import annotations

import json
import keyword
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scaling.errors import ScalingError

#: Seed of every built-in task's shuffle (with the task's name).
SEED = 1729
#: Characters of a built-in item's context kept before its answer (the window cuts it further).
CONTEXT_CHARS = 1000
#: Options of a built-in item (chance = 1 / OPTIONS).
OPTIONS = 4
#: The span tasks: name -> (characters of an option, distractors from the same document).
SPANS = {"next_chars": (4, False), "same_file_chars": (16, True)}
#: Characters either side of the answer where ``same_file_chars`` draws its distractors.
NEARBY_CHARS = 2000
#: Characters of the document an answer line needs before it.
MIN_CONTEXT_CHARS = 64
#: Non-blank characters a candidate line needs.
MIN_LINE_CHARS = 6
#: Task names: usable in column names.
NAME = re.compile(r"[a-z0-9_-]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


class TaskError(ScalingError):
    """A task file or task setting that cannot be used: one line naming the file (and line)."""


@dataclass(frozen=True)
class Item:
    """One multiple-choice question: the option `answer` continues `context`."""

    context: str
    options: tuple[str, ...]
    answer: int


@dataclass
class Task:
    """A named list of items; `source` is "built-in" or the JSONL file's path."""

    name: str
    items: list[Item]
    source: str = "built-in"

    @property
    def chance(self) -> float:
        """Expected accuracy of a random guess."""
        return float(np.mean([1 / len(item.options) for item in self.items]))


# --- built-in tasks ------------------------------------------------------------------------------


def option_bytes(window: int) -> int:
    """The longest built-in option, UTF-8 bytes: 3/4 of the window (at most 120)."""
    return max(1, min(window * 3 // 4, 120))


@dataclass
class _Line:
    doc: int
    index: int            # line number in the document
    start: int            # character offset of the line in the document
    text: str


def _lines(documents: list[str]) -> list[list[_Line]]:
    """Every line of every document, with its offset."""
    out = []
    for d, text in enumerate(documents):
        lines, start = [], 0
        for i, line in enumerate(text.split("\n")):
            lines.append(_Line(d, i, start, line))
            start += len(line) + 1
        out.append(lines)
    return out


def _fits(line: str, limit: int) -> bool:
    return len(line.strip()) >= MIN_LINE_CHARS and len(line.encode("utf-8")) <= limit


def _context(document: str, end: int) -> str:
    return document[max(0, end - CONTEXT_CHARS):end]


def _pick(rng: random.Random, pool: list[str], answer: str, count: int) -> list[str] | None:
    """`count` distinct strings of `pool`, none blank or equal to `answer` (stripped); None if
    too few."""
    seen, out = {answer.strip()}, []
    for text in rng.sample(pool, len(pool)) if len(pool) <= 64 else \
            (pool[rng.randrange(len(pool))] for _ in range(8 * count + 64)):
        if text.strip() and text.strip() not in seen:
            seen.add(text.strip())
            out.append(text)
            if len(out) == count:
                return out
    return None


def _spread(rng: random.Random, candidates: list, doc_of) -> list:
    """The candidates in a deterministic order that spreads them over documents: each
    document's shuffled, then the documents taken in turn (a shuffled order each round), so
    a few large documents cannot fill a task."""
    groups: dict[int, list] = {}
    for candidate in candidates:
        groups.setdefault(doc_of(candidate), []).append(candidate)
    queues = [rng.sample(group, len(group)) for _, group in sorted(groups.items())]
    order, depth = [], 0
    while queues:
        queues = [queue for queue in queues if len(queue) > depth]
        order += [queue[depth] for queue in rng.sample(queues, len(queues))]
        depth += 1
    return order


def _item(rng: random.Random, context: str, answer: str, distractors: list[str]) -> Item:
    options = [answer, *distractors]
    rng.shuffle(options)
    return Item(context=context, options=tuple(options), answer=options.index(answer))


def _span_task(name: str, documents: list[str], items: int, window: int) -> list[Item]:
    length, same = SPANS[name]
    limit = option_bytes(window)
    usable = [d for d, text in enumerate(documents) if len(text) > MIN_CONTEXT_CHARS + length]
    others = [d for d, text in enumerate(documents) if len(text) > length]
    rng = random.Random(f"{SEED}:{name}")
    out = []
    for _ in range(50 * items):
        if len(out) == items or not usable:
            break
        d = usable[rng.randrange(len(usable))]
        text = documents[d]
        start = rng.randrange(MIN_CONTEXT_CHARS, len(text) - length + 1)
        answer = text[start:start + length]
        if not answer.strip() or len(answer.encode("utf-8")) > limit:
            continue
        pool = []
        for _ in range(OPTIONS - 1 + 8):
            if same:
                low, high = max(0, start - NEARBY_CHARS), min(len(text) - length, start + NEARBY_CHARS)
                at = rng.randrange(low, high + 1)
                if at != start:
                    pool.append(text[at:at + length])
            else:
                choices = [o for o in others if o != d]
                if not choices:
                    break
                other = documents[choices[rng.randrange(len(choices))]]
                at = rng.randrange(0, len(other) - length + 1)
                pool.append(other[at:at + length])
        pool = [p for p in pool if len(p.encode("utf-8")) <= limit]
        distractors = _pick(rng, pool, answer, OPTIONS - 1)
        if distractors is not None:
            out.append(_item(rng, _context(text, start), answer, distractors))
    return out


def _line_task(name: str, documents: list[str], items: int, window: int) -> list[Item]:
    limit = option_bytes(window)
    lines = _lines(documents)
    candidates = [line for doc in lines for line in doc
                  if line.start >= MIN_CONTEXT_CHARS and _fits(line.text, limit)]
    rng = random.Random(f"{SEED}:{name}")
    order = _spread(rng, candidates, lambda line: line.doc)
    pool_by_doc: dict[int, list[str]] = {}
    for line in candidates:
        pool_by_doc.setdefault(line.doc, []).append(line.text)
    others = sorted(pool_by_doc)
    out = []
    for line in order:
        if len(out) == items:
            break
        choices = [d for d in others if d != line.doc]
        if not choices:
            break
        pool = []
        for _ in range(OPTIONS - 1 + 8):
            doc = pool_by_doc[choices[rng.randrange(len(choices))]]
            pool.append(doc[rng.randrange(len(doc))])
        distractors = _pick(rng, pool, line.text, OPTIONS - 1)
        if distractors is not None:
            out.append(_item(rng, _context(documents[line.doc], line.start), line.text,
                             distractors))
    return out


def _identifier_task(name: str, documents: list[str], items: int, window: int) -> list[Item]:
    limit = option_bytes(window)
    candidates, pools = [], []
    for d, text in enumerate(documents):
        names = set()
        for match in _IDENTIFIER.finditer(text):
            word = match.group()
            if keyword.iskeyword(word) or len(word.encode("utf-8")) > limit:
                continue
            names.add(word)
            line_start = text.rfind("\n", 0, match.start()) + 1
            before = text[line_start:match.start()]
            if match.start() >= MIN_CONTEXT_CHARS and before.strip() and \
                    (match.end() == len(text) or not (text[match.end()].isalnum()
                                                       or text[match.end()] == "_")):
                candidates.append((d, match.start(), word))
        pools.append(sorted(names))
    rng = random.Random(f"{SEED}:{name}")
    order = _spread(rng, candidates, lambda candidate: candidate[0])
    out = []
    for d, start, word in order:
        if len(out) == items:
            break
        distractors = _pick(rng, pools[d], word, OPTIONS - 1)
        if distractors is not None:
            out.append(_item(rng, _context(documents[d], start), word, distractors))
    return out


#: Built-in tasks, easiest first (as measured on the cpu-tasks ladder): name ->
#: builder(name, held-out documents, items, window).
BUILTIN = {"next_chars": _span_task, "same_file_chars": _span_task,
           "identifier": _identifier_task, "next_line": _line_task}


def build(name: str, documents: list[str], items: int, window: int) -> Task:
    """Built-in task `name` from held-out `documents`: `items` items (fewer only when the
    documents hold fewer candidates), options fitting a window of `window` tokens."""
    if name not in BUILTIN:
        raise TaskError(f"unknown task {name!r}; built-in: {', '.join(BUILTIN)}")
    made = BUILTIN[name](name, list(documents), int(items), int(window))
    if not made:
        raise TaskError(f"task {name}: the held-out documents hold no candidate item")
    return Task(name=name, items=made)


# --- your own tasks: JSONL -----------------------------------------------------------------------


def split_entry(entry: str) -> tuple[str, str]:
    """(name, path) of a task file entry: "NAME=path" or a path (name: the file's stem)."""
    head, sep, tail = entry.partition("=")
    if sep and NAME.fullmatch(head):
        return head, tail
    return Path(entry).stem, entry


def load_jsonl(path, name: str | None = None) -> Task:
    """A task from a JSONL file, every line checked (a `TaskError` naming file and line)."""
    path = Path(path)
    name = path.stem if name is None else name
    if not NAME.fullmatch(name):
        raise TaskError(f"{path}: task name {name!r} must be lowercase letters, digits, '_' or "
                        "'-' (it names the columns acc:<task> and loss:<task>)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc})") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise TaskError(f"{where}: an item must be a JSON object with context, options "
                            "and answer")
        for key in ("context", "options", "answer"):
            if key not in record:
                raise TaskError(f"{where}: missing key {key!r}")
        context, options, answer = record["context"], record["options"], record["answer"]
        if not isinstance(context, str):
            raise TaskError(f"{where}: context must be a string")
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise TaskError(f"{where}: options must be a list of strings")
        if len(options) < 2:
            raise TaskError(f"{where}: {len(options)} option(s); an item needs at least 2")
        if any(not o for o in options):
            raise TaskError(f"{where}: option {[bool(o) for o in options].index(False)} is empty")
        if len(set(options)) < len(options):
            raise TaskError(f"{where}: two options are the same text")
        if isinstance(answer, bool) or not isinstance(answer, int) or \
                not 0 <= answer < len(options):
            raise TaskError(f"{where}: answer {answer!r} is not an index of the "
                            f"{len(options)} options (0 to {len(options) - 1})")
        items.append(Item(context=context, options=tuple(options), answer=answer))
    if not items:
        raise TaskError(f"{path}: no items")
    return Task(name=name, items=items, source=str(path))


# --- encoding and scoring ------------------------------------------------------------------------


@dataclass
class Encoded:
    """A task as token arrays: one sequence per (item, option), right-padded with 0.

    x, y: int64 (S, L) inputs and targets (y is the sequence shifted by one); mask: float32
    (S, L), 1 where y is an option token. item, option: the sequence's item and option index;
    chars: the option's characters; correct: whether it is the item's answer; bytes: its UTF-8
    bytes."""

    name: str
    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    item: np.ndarray
    option: np.ndarray
    chars: np.ndarray
    bytes: np.ndarray
    correct: np.ndarray
    items: int = field(default=0)


def encode(task: Task, tokenizer, window: int, start: str = "\n\n") -> Encoded:
    """Encode every (item, option): context tokens (left-truncated to window − option tokens)
    then option tokens, at most `window` + 1 tokens in all. A context that encodes to no token
    is `start` (the corpus's document separator). An option of `window` tokens or more cannot
    be scored: a `TaskError`."""
    sequences, starts, meta = [], [], []
    fallback = [int(t) for t in tokenizer.encode(start)]
    for i, item in enumerate(task.items):
        context = [int(t) for t in tokenizer.encode(item.context)] or fallback
        for j, option in enumerate(item.options):
            ids = [int(t) for t in tokenizer.encode(option)]
            if len(ids) >= window:
                raise TaskError(f"{task.source}: task {task.name}, item {i + 1}: option {j} "
                                f"has {len(ids)} tokens; a window of {window} tokens scores "
                                f"at most {window - 1} (one token of context)")
            keep = context[-(window + 1 - len(ids)):]
            sequences.append(keep + ids)
            starts.append(len(keep))
            meta.append((i, j, len(option), len(option.encode("utf-8")), j == item.answer))
    length = max(len(s) for s in sequences) - 1
    x = np.zeros((len(sequences), length), dtype=np.int64)
    y = np.zeros_like(x)
    mask = np.zeros(x.shape, dtype=np.float32)
    for row, (sequence, first) in enumerate(zip(sequences, starts)):
        n = len(sequence) - 1
        x[row, :n] = sequence[:-1]
        y[row, :n] = sequence[1:]
        mask[row, first - 1:n] = 1.0
    item, option, chars, size, correct = (np.array(column) for column in zip(*meta))
    return Encoded(name=task.name, x=x, y=y, mask=mask, item=item, option=option, chars=chars,
                   bytes=size, correct=correct.astype(bool), items=len(task.items))


def option_log_likelihoods(model, encoded: Encoded, device="cpu", autocast=None,
                           batch: int = 64):
    """Sum of log p (nats) of each sequence's option tokens: a float64 numpy array (S,).
    Under torch.no_grad and model.eval (restored after), in passes of `batch` sequences, with
    `autocast` (the held-out evaluation's) when given; one read-back at the end."""
    import contextlib

    import torch

    was_training = model.training
    model.eval()
    parts = []
    with torch.no_grad(), (autocast or contextlib.nullcontext()):
        for s in range(0, len(encoded.x), batch):
            x = torch.from_numpy(encoded.x[s:s + batch]).to(device)
            y = torch.from_numpy(encoded.y[s:s + batch]).to(device)
            mask = torch.from_numpy(encoded.mask[s:s + batch]).to(device)
            logits, _ = model(x)
            log_p = torch.log_softmax(logits.float(), dim=-1)
            picked = log_p.gather(-1, y.unsqueeze(-1)).squeeze(-1)
            parts.append((picked * mask).sum(-1, dtype=torch.float64))
    model.train(was_training)
    return torch.cat(parts).cpu().numpy()


def metrics(encoded: Encoded, log_likelihoods) -> dict[str, float]:
    """{"loss:<task>": bits per byte of the correct options (total / total), "acc:<task>":
    accuracy by log-likelihood per character} from each sequence's summed log p (nats)."""
    ll = np.asarray(log_likelihoods, dtype=np.float64)
    per_char = ll / encoded.chars
    right = 0
    for i in range(encoded.items):
        rows = np.flatnonzero(encoded.item == i)
        best = rows[int(np.argmax(per_char[rows]))]
        right += bool(encoded.correct[best])
    bits = -ll[encoded.correct].sum() / math.log(2)
    return {f"loss:{encoded.name}": float(bits / encoded.bytes[encoded.correct].sum()),
            f"acc:{encoded.name}": right / encoded.items}


def score(model, encoded: list[Encoded], device="cpu", autocast=None,
          batch: int = 64) -> dict[str, float]:
    """`metrics` of every encoded task: the columns of one evaluation row."""
    columns = {}
    for task in encoded:
        columns.update(metrics(task, option_log_likelihoods(model, task, device, autocast,
                                                            batch)))
    return columns


# --- a rung's tasks ------------------------------------------------------------------------------

_CACHE: dict = {}


def held_out(data: dict):
    """(corpus, its held-out documents) of a rung's data settings (`Rung.data`): a stdlib or
    files corpus split at its valid_fraction. Pre-tokenised .bin corpora have no text: a
    `TaskError`."""
    from ladders import corpus as corpora

    if data["corpus"] == "bins":
        raise TaskError("tasks need the corpus's text (and tokenizer); pre-tokenised .bin "
                        "corpora have neither")
    if data["corpus"] == "hf":
        raise TaskError("tasks are not made from a streamed Hugging Face corpus (data.corpus = "
                        "'hf') yet")
    corpus = (corpora.stdlib_corpus(max_bytes=data.get("max_bytes"))
              if data["corpus"] == "stdlib" else corpora.text_corpus(data["files"]))
    return corpus, corpora.split_corpus(corpus, data.get("valid_fraction", 0.05))[1].documents


def rung_tasks(rung, cache_dir: Path) -> list[Encoded]:
    """The encoded tasks of a rung (`rung.tasks`, `rung.task_items`, `rung.task_files`): built
    once per process for each (data, tasks, window) and kept."""
    if not rung.tasks and not rung.task_files:
        return []
    key = json.dumps([rung.data, rung.tasks, rung.task_items, rung.task_files, rung.context],
                     sort_keys=True)
    if key not in _CACHE:
        from ladders.tokenizer import get_tokenizer

        data = rung.data
        corpus, documents = held_out(data)
        tokenizer = get_tokenizer(data["tokenizer"], data["vocab_size"], corpus, cache_dir,
                                  valid_fraction=data.get("valid_fraction", 0.05))
        tasks = [build(name, documents, rung.task_items, rung.context) for name in rung.tasks]
        tasks += [load_jsonl(path, name) for name, path in map(split_entry, rung.task_files)]
        _CACHE[key] = [encode(task, tokenizer, rung.context) for task in tasks]
    return _CACHE[key]
