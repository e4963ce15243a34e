"""Write one table as CSV, Markdown and LaTeX side by side (``<stem>.csv``, ``.md``, ``.tex``), atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from defmo.utils.io import write_text

Cell = str | int | float | None


def fmt(value: Cell, digits: int = 3) -> str:
    """Human formatting: floats to ``digits`` decimals, None/NaN as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.{digits}f}"
    return str(value)


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue()


def to_markdown(header: Sequence[str], rows: Sequence[Sequence[Cell]], digits: int = 3) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v, digits) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def to_latex(header: Sequence[str], rows: Sequence[Sequence[Cell]], caption: str = "", digits: int = 3) -> str:
    cols = "l" + "r" * (len(header) - 1)
    body = [" & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
    body += [" & ".join(_tex_escape(fmt(v, digits)) for v in row) + r" \\" for row in rows]
    out = [r"\begin{table}[t]", r"\centering"]
    if caption:
        out.append(r"\caption{" + _tex_escape(caption) + "}")
    out += [r"\begin{tabular}{" + cols + "}", r"\toprule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_table(
    stem: str | Path, header: Sequence[str], rows: Sequence[Sequence[Cell]], caption: str = "", digits: int = 3
) -> list[Path]:
    """Write ``stem.csv`` (raw values), ``stem.md`` and ``stem.tex`` (formatted); return the three paths."""
    stem = Path(stem)
    paths = [stem.with_suffix(s) for s in (".csv", ".md", ".tex")]
    write_text(paths[0], to_csv(header, rows))
    md = (f"{caption}\n\n" if caption else "") + to_markdown(header, rows, digits)
    write_text(paths[1], md)
    write_text(paths[2], to_latex(header, rows, caption, digits))
    return paths


def _cell(text: str) -> Cell:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv_rows(path: str | Path) -> list[list[Cell]]:
    """The rows (header left out) of a CSV written by :func:`write_table`, numbers parsed, empty cells None."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return [[_cell(v) for v in row] for row in rows[1:]]
