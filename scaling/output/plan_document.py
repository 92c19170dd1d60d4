"""The planning report as a document (`scaling plan`'s report.md and report.html): `Plan`, its
blocks (headings, paragraphs, tables, warnings, figures) with the figures' PNG bytes and the
numbers a caller reads, rendered as Markdown (figures named by file) and as one self-contained
HTML page (the same figures embedded as base64 PNG, no external reference); `write` puts both in
a directory, the PNGs beside report.md. What goes into it: `scaling.analysis.planning`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.output.atomic import atomic_path, write_text

REPORT_MD, REPORT_HTML = "report.md", "report.html"


def _json_value(value):
    """numpy numbers as Python's (NaN as None) for `Plan.to_json`."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float)) else str(value)


# -- the document ----------------------------------------------------------------------------

@dataclass
class Block:
    kind: str                   # "h1", "h2", "p", "table", "warnings", "figure", "pre"
    text: str = ""
    header: tuple = ()
    rows: list = field(default_factory=list)
    items: list = field(default_factory=list)
    name: str = ""              # a figure's file name


@dataclass
class Plan:
    """The report's blocks, the figures ({file name: PNG bytes}) and the numbers a caller (or a
    test) reads: `summary_lines` (what `scaling plan` prints) and `record` (the recommended
    allocation). `summary()` is the report as Markdown, `to_html()` as one self-contained page,
    `tables` its tables as DataFrames, `to_json()` the record, the lines and the tables."""

    blocks: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    summary_lines: list = field(default_factory=list)
    record: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Plan: {'; '.join(self.summary_lines[:1]) or 'empty'}>"

    def summary(self) -> str:
        """The report as Markdown (report.md, figures named by file)."""
        return self.markdown()

    def to_html(self) -> str:
        """The report as one self-contained HTML page (report.html)."""
        return self.html()

    def _repr_html_(self) -> str:
        return self.html()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """{the section's heading: its table as a DataFrame} (cells as the report shows them;
        a section with several tables numbers the later ones, "heading (2)")."""
        out, heading = {}, "report"
        for block in self.blocks:
            if block.kind in ("h1", "h2"):
                heading = block.text
            elif block.kind == "table":
                name, k = heading, 2
                while name in out:
                    name, k = f"{heading} ({k})", k + 1
                out[name] = pd.DataFrame([list(row) for row in block.rows],
                                         columns=list(block.header))
        return out

    def to_json(self, path=None) -> str:
        """{"record", "summary", "tables": {heading: [row, …]}} as JSON; written to `path`."""
        text = json.dumps({"record": self.record, "summary": self.summary_lines,
                           "tables": {name: frame.to_dict(orient="records")
                                      for name, frame in self.tables.items()}},
                          indent=1, default=_json_value)
        if path is not None:
            write_text(path, text)
        return text

    def h1(self, text):
        self.blocks.append(Block("h1", text))

    def h2(self, text):
        self.blocks.append(Block("h2", text))

    def p(self, text):
        self.blocks.append(Block("p", text))

    def pre(self, text):
        self.blocks.append(Block("pre", text))

    def table(self, header, rows):
        self.blocks.append(Block("table", header=tuple(header), rows=[tuple(r) for r in rows]))

    def warnings(self, items):
        self.blocks.append(Block("warnings", items=list(items)))

    def figure(self, name, png: bytes, caption: str):
        self.figures[name] = png
        self.blocks.append(Block("figure", caption, name=name))

    # -- rendering --------------------------------------------------------------------------
    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b.kind == "h1":
                out.append(f"# {b.text}")
            elif b.kind == "h2":
                out.append(f"## {b.text}")
            elif b.kind == "p":
                out.append(b.text)
            elif b.kind == "pre":
                out.append("```\n" + b.text + "\n```")
            elif b.kind == "table":
                cell = lambda c: str(c).replace("|", "\\|")  # noqa: E731
                lines = ["| " + " | ".join(cell(h) for h in b.header) + " |",
                         "| " + " | ".join("---" for _ in b.header) + " |"]
                lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in b.rows]
                out.append("\n".join(lines))
            elif b.kind == "warnings":
                out.append("\n".join(f"> **{w['severity'].upper()}** ({w['source']}): "
                                     f"{w['message']}" for w in b.items)
                           if b.items else "No warnings.")
            elif b.kind == "figure":
                out.append(f"![{b.text}]({b.name})\n\n*{b.text}*")
        return "\n\n".join(out) + "\n"

    def html(self) -> str:
        e = html.escape
        body = []
        for b in self.blocks:
            if b.kind == "h1":
                body.append(f"<h1>{e(b.text)}</h1>")
            elif b.kind == "h2":
                body.append(f"<h2>{e(b.text)}</h2>")
            elif b.kind == "p":
                body.append(f"<p>{_inline(b.text)}</p>")
            elif b.kind == "pre":
                body.append(f"<pre>{e(b.text)}</pre>")
            elif b.kind == "table":
                head = "".join(f"<th>{_inline(str(h))}</th>" for h in b.header)
                rows = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row)
                               + "</tr>" for row in b.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif b.kind == "warnings":
                if not b.items:
                    body.append('<p class="ok">No warnings.</p>')
                else:
                    items = "".join(f'<li class="{e(w["severity"])}"><b>{e(w["severity"].upper())}'
                                    f"</b> ({e(w['source'])}): {e(w['message'])}</li>"
                                    for w in b.items)
                    body.append(f'<ul class="warnings">{items}</ul>')
            elif b.kind == "figure":
                data = base64.b64encode(self.figures[b.name]).decode("ascii")
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(b.text)}">'
                            f"<figcaption>{e(b.text)}</figcaption></figure>")
        title = next((b.text for b in self.blocks if b.kind == "h1"), "scaling plan")
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{e(title)}</title><style>{CSS}</style></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #333;padding-bottom:4px}
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc;padding-bottom:2px}
table{border-collapse:collapse;margin:8px 0;font-size:0.88em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
tr:nth-child(even) td{background:#fafafa}
ul.warnings{list-style:none;padding:0}
ul.warnings li{margin:4px 0;padding:6px 10px;border-left:5px solid #d62728;background:#fdecea}
ul.warnings li.caution{border-left-color:#ff9f1a;background:#fff5e6}
p.ok{color:#2a7a2a}
code{background:#f2f2f2;padding:0 3px;border-radius:3px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:0.85em}
figure{margin:12px 0}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.9em;color:#555}
"""


def _inline(text: str) -> str:
    """Markdown's **bold** and `code` in a cell or paragraph, as HTML (everything else escaped)."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def write(doc: Plan, out: Path) -> tuple[Path, Path]:
    """DIR/report.md with its PNGs beside it, and DIR/report.html (self-contained); atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, png in doc.figures.items():
        with atomic_path(out / name) as temporary:
            Path(temporary).write_bytes(png)
    write_text(out / REPORT_MD, doc.markdown())
    write_text(out / REPORT_HTML, doc.html())
    return out / REPORT_MD, out / REPORT_HTML
