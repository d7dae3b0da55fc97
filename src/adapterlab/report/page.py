"""report.html from the report's Grids and figures through the Jinja2 template
templates/report.html.j2: a table of contents, an anchor per section and table, sortable
tables, each value linked to its run folder, and the figures inline as base64, so the page stays
one self-contained file that opens offline."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

from adapterlab.report.grid import Grid


@dataclass(frozen=True)
class Figure:
    key: str  # its anchor
    title: str
    path: Path

    @property
    def data(self) -> str:
        """The PNG as base64, for a data: URL."""
        return base64.b64encode(self.path.read_bytes()).decode()


@dataclass(frozen=True)
class Section:
    """One section of the page (an entry of its table of contents)."""

    key: str
    title: str
    grids: list[Grid] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    text: str = ""
    details: Grid | None = None  # a long table shown folded


def _rich(text: str) -> Markup:
    """Escaped text in which the captions' own <sub>...</sub> stays markup."""
    return Markup(html.escape(text).replace("&lt;sub&gt;", "<sub>").replace("&lt;/sub&gt;", "</sub>"))


def render_page(
    title: str, description: str, status: str, sections: list[Section], steps: list[str], versions: str
) -> str:
    """The whole page as one HTML string."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("adapterlab.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["rich"] = _rich
    return environment.get_template("report.html.j2").render(
        title=title, description=description, status=status, sections=sections, steps=steps, versions=versions
    )
