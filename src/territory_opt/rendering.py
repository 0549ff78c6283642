"""Notebook HTML by dispatch on the object's type: what ``_repr_html_`` returns.

The classes that show themselves in Jupyter (scenario, evaluation, plan, comparison) sit low in
the layers and must not import the presentation code above them; they call :func:`to_html`,
and :mod:`territory_opt.present.notebook` registers a renderer per class
(``@to_html.register``) when the package is imported. This module imports nothing of the
package.
"""

from __future__ import annotations

from functools import singledispatch
from html import escape
from typing import Any


@singledispatch
def to_html(obj: Any) -> str:
    """``obj`` as HTML: its registered renderer's, else its ``repr`` escaped in a ``<pre>``."""
    return f"<pre>{escape(repr(obj))}</pre>"
