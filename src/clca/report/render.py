"""Render a `ReportData` as Markdown and as one self-contained HTML file (plots embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import jinja2
from markdown_it import MarkdownIt

from clca.report.model import Estimate, ReportData

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _est(e: Estimate) -> str:
    if e.value is None:
        return "–"
    if e.ci_low is None or e.ci_high is None:
        return _num(e.value)
    return f"{e.value:.4f} [{e.ci_low:.4f}, {e.ci_high:.4f}]"


# Markdown syntax characters: backslash-escaped, text from models, users or data files renders literally (no links,
# images, emphasis, code spans, raw HTML or table breaks); CommonMark lets a backslash escape each of them.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#!|~&])")


def _cell(text: object) -> str:
    """Make free text literal inside Markdown (one line, every syntax character escaped).

    Args:
        text: any text from a model, a user or a data file.

    Returns:
        Markdown that renders as exactly that text (whitespace collapsed).
    """
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(num=_num, pct=_pct, est=_est, cell=_cell)
    return env


def render_markdown(data: ReportData) -> str:
    return _env().get_template("report.md.j2").render(r=data).strip() + "\n"


def render_html(data: ReportData, base_dir: Path) -> str:
    """The Markdown report as one self-contained HTML page: images are inlined so the file travels alone."""
    # html off: raw HTML in the Markdown is shown as text, never passed through (defence in depth beside `cell`).
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(render_markdown(data))

    def inline_image(match: re.Match[str]) -> str:
        path = base_dir / html.unescape(match.group(1))
        if not path.is_file():
            return match.group(0)
        return 'src="data:image/png;base64,' + base64.b64encode(path.read_bytes()).decode("ascii") + '"'

    body = re.sub(r'src="([^"]+\.png)"', inline_image, body)
    title = html.escape(f"CLCA report — {data.run_name}")
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head>"
        f"<body>\n{body}</body></html>\n"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:4px 8px;"
    "vertical-align:top}th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3;padding:0 3px}"
)
