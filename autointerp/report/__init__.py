"""Audit experience: the static HTML report and the read-only trace viewer.

``autointerp report RUN -o run.html`` renders one run into a single
self-contained page (:func:`render_report`); ``autointerp serve`` starts a
read-only web viewer (:mod:`autointerp.report.server`). Both show untrusted
text (prompts, model outputs, LLM messages) and therefore escape everything
(Jinja autoescape, SVG built with ElementTree) and forbid all script with a
Content-Security-Policy (:mod:`autointerp.report.render`).

Only :mod:`autointerp.report.source` touches the store; rendering works on
the plain audit dict and needs no store at all.
"""

from autointerp.report.build import build_view
from autointerp.report.render import csp, render_report
from autointerp.report.source import ReportError, open_readonly

__all__ = ["ReportError", "build_view", "csp", "open_readonly", "render_report"]
