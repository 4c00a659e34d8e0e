"""Reports of the evaluation protocols: a Markdown table of metrics and files written atomically."""
from __future__ import annotations

import os

from ddvo_tf.core.files import write_atomic


def markdown_table(columns: tuple[str, ...] | list[str], rows: list[tuple[str, list[str]]]) -> str:
    """``| method | c1 | c2 |`` with a separator line and one line per ``(label, cells)``."""
    header = "| method | " + " | ".join(columns) + " |\n|" + " --- |" * (len(columns) + 1)
    return "\n".join([header] + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows])


def write_files(output_dir: str, files: dict[str, str]) -> None:
    """Each report file written whole or not at all."""
    os.makedirs(output_dir, exist_ok=True)
    for filename, text in files.items():
        write_atomic(os.path.join(output_dir, filename), text)
