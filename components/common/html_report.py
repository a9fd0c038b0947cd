"""HTML reports: Jinja2 templates, autoescaped, with their pictures inlined as PNG.

The KFP UI shows an HTML artifact in a sandboxed frame that cannot load other files, so every
picture is a matplotlib figure rendered to PNG and inlined as a base64 `data:` URI. Texts and
labels come from users' data: autoescaping escapes every value a template prints, and only the
markup that `png` and the `num` filter build is trusted as is.

A stage's template lives beside its code (`components/<stage>/report.html`, named by that
path) and extends `common/page.html`, the page and its style sheet; `common/macros.html` holds
the `table` macro.
"""

import base64
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from matplotlib.figure import Figure

_DPI = 100
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1]),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def png(fig: Figure, alt: str = "", dpi: int = _DPI) -> Markup:
    """The figure as an `<img>` holding its PNG as a data: URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Markup('<img alt="{}" src="data:image/png;base64,{}">').format(alt, encoded)


def num(value: float | None, digits: int = 4) -> str:
    """A number with `digits` decimals, or a greyed "undefined" for None."""
    if value is None:
        return Markup('<span class="na">undefined</span>')
    return f"{value:.{digits}f}"


_TEMPLATES.filters["num"] = num


def render(template: str, **context: Any) -> str:
    """The page of `template` (a path under components/, e.g. "evaluate/report.html")."""
    return _TEMPLATES.get_template(template).render(**context)
