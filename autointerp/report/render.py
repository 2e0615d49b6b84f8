"""Render runs to HTML with Jinja2 (autoescape on) under a strict Content-Security-Policy.

Why no script at all: the pages show untrusted text (prompts, model outputs,
LLM messages, hypothesis text). Jinja escapes every value; the charts are
SVG built with escaping (:mod:`autointerp.report.svg`); and the CSP allows
no script whatsoever (``default-src 'none'``), no network, images only from
``data:`` URLs, and exactly one stylesheet: the package's own, allowed by
its sha256 hash. Interactivity is HTML only (``<details>``, links, GET
forms), so even a value that escaped escaping could not run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from autointerp.report.build import build_view


@cache
def stylesheet() -> str:
    """The report's CSS (package data)."""
    return resources.files("autointerp.report").joinpath("templates/style.css").read_text("utf-8")


def csp(form_action: bool = False) -> str:
    """The Content-Security-Policy of every page (the viewer also allows its own GET forms)."""
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode("utf-8")).digest()).decode("ascii")
    policy = [
        "default-src 'none'", f"style-src 'sha256-{digest}'", "img-src data:", "base-uri 'none'",
        "form-action 'self'" if form_action else "form-action 'none'",
    ]
    return "; ".join(policy)


def _when(value: Any) -> str:
    """ISO timestamp -> ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    if not value:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("T", " ")[:19]


def _fmt(value: Any, spec: str = ".3g") -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int | float):
        return format(value, spec)
    return str(value)


@cache
def environment() -> jinja2.Environment:
    """The Jinja environment: package templates, autoescape on for everything, missing keys render empty."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("autointerp.report", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["fmt"] = _fmt
    return env


def render_page(template: str, *, viewer: bool, **context: Any) -> str:
    """Render one template with the shared layout context (CSS, CSP, generation time)."""
    return environment().get_template(template).render(
        css=Markup(stylesheet()), csp=csp(form_action=viewer), viewer=viewer,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), **context,
    )


def render_report(audit: Mapping[str, Any]) -> str:
    """One self-contained HTML page about a run (no network, no script).

    Args:
        audit: The dict of ``store.load_run_for_audit``.

    Returns:
        The HTML document.
    """
    return render_page("report.html.j2", viewer=False, view=build_view(audit))
