"""Inline SVG charts: heat-maps, the circuit diagram, histograms and curves.

Why ElementTree: every label in these charts (component ids, prompt tokens,
role names) may come from untrusted data, so the markup is built as an
element tree and serialised by ``xml.etree.ElementTree``, which escapes text
and attribute values; the result is then marked safe for Jinja. Colours are
presentation attributes (``fill=``), never ``style=`` attributes, so the
page's Content-Security-Policy can forbid inline styles other than its own
stylesheet. Tooltips are SVG ``<title>`` elements (no script).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

FONT = "11"
#: fill of a cell whose value was not measured
NOT_MEASURED = "#d9d9d9"
#: the one colour convention of every effect chart (heat-maps, edges), stated once in the report's legend
COLOUR_LEGEND = ("Values are contributions: how much a component's clean activation moves the logit difference "
                 "(answer minus distractor), i.e. minus the noising patching effect. Blue: towards the answer; "
                 "red: towards the distractor; grey: not measured. Tool summaries print the raw effect "
                 "(patched minus unpatched run), which has the opposite sign for noising.")
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
           "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")  # fmt: skip


def _svg(width: float, height: float, label: str) -> ET.Element:
    return ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "width": f"{width:.0f}", "height": f"{height:.0f}",
        "viewBox": f"0 0 {width:.0f} {height:.0f}", "role": "img", "aria-label": label,
        "font-family": "sans-serif", "font-size": FONT,
    })  # fmt: skip


def _text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", **attrs})
    el.text = text
    return el


def _title(parent: ET.Element, text: str) -> None:
    ET.SubElement(parent, "title").text = text


def _short(text: str, width: int = 16) -> str:
    """A label cut to ``width`` characters (the full text goes into a tooltip)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _done(root: ET.Element) -> Markup:
    return Markup(ET.tostring(root, encoding="unicode", short_empty_elements=True))


def diverging(value: float | None, scale: float) -> str:
    """Red (negative) - white - blue (positive) colour of ``value`` on ``[-scale, scale]``.

    The report's one colour convention: values are contributions, so blue
    pushes towards the answer and red towards the distractor; grey is "not
    measured" (see :data:`COLOUR_LEGEND`).
    """
    if value is None or not math.isfinite(value) or scale <= 0:
        return NOT_MEASURED
    t = max(-1.0, min(1.0, value / scale))
    if t >= 0:
        r, g, b = int(255 - 200 * t), int(255 - 150 * t), 255
    else:
        r, g, b = 255, int(255 + 180 * t), int(255 + 200 * t)
    return f"#{r:02x}{g:02x}{b:02x}"


def sequential(value: float | None, top: float) -> str:
    """White - dark blue colour of a non-negative ``value`` on ``[0, top]``."""
    if value is None or not math.isfinite(value) or top <= 0:
        return NOT_MEASURED
    t = max(0.0, min(1.0, value / top))
    return f"#{int(255 - 225 * t):02x}{int(255 - 175 * t):02x}{int(255 - 80 * t):02x}"


def grid_heatmap(
    rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float | None]],
    *, label: str, diverge: bool = True, cell: int = 22, names: Sequence[Sequence[str]] | None = None,
    top: float | None = None,
) -> Markup:
    """A heat-map of ``values[row][col]`` with row/column labels and a tooltip per cell.

    Args:
        rows: Row labels (e.g. layers).
        cols: Column labels (e.g. heads, or key tokens).
        values: Matrix; None cells are grey.
        label: Accessible name of the chart.
        diverge: Diverging colours around 0 (effects) or sequential (weights).
        cell: Cell size in pixels.
        names: Optional tooltip prefix per cell (e.g. component ids).
        top: The value of the strongest colour (default: the largest |value|);
            a fixed ``top`` puts several charts on one scale (attention: 1.0).
    """
    finite = [abs(v) for row in values for v in row if v is not None and math.isfinite(v)]
    scale = max(finite, default=0.0) if top is None else top
    legend = (f"colour scale ±{scale:.3g}: red < 0 < blue; grey: not measured" if diverge
              else f"colour scale 0–{scale:.3g}; grey: not measured")
    left = 8 + 6.5 * max((len(_short(r)) for r in rows), default=1)
    top = min(120, 8 + 6 * max((len(_short(c)) for c in cols), default=1))
    width = max(left + cell * len(cols) + 10, left + 6 * len(legend))
    height = top + cell * len(rows) + 26
    root = _svg(width, height, label)
    for j, col in enumerate(cols):
        x = left + cell * j + cell / 2
        el = _text(root, x, top - 4, _short(col), transform=f"rotate(-60 {x:.1f} {top - 4:.1f})")
        _title(el, col)
    for i, row in enumerate(rows):
        el = _text(root, left - 4, top + cell * i + cell * 0.68, _short(row), **{"text-anchor": "end"})
        _title(el, row)
        for j, _ in enumerate(cols):
            v = values[i][j] if j < len(values[i]) else None
            rect = ET.SubElement(root, "rect", {
                "x": str(left + cell * j), "y": f"{top + cell * i:.1f}", "width": str(cell - 1),
                "height": str(cell - 1), "fill": diverging(v, scale) if diverge else sequential(v, scale),
            })  # fmt: skip
            name = names[i][j] if names else f"{row} / {cols[j]}"
            _title(rect, f"{name}: {'n/a' if v is None else format(v, '.4g')}")
    _text(root, 4, height - 8, legend, fill="#555")
    return _done(root)


def circuit_diagram(
    nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]], n_layers: int | None = None
) -> Markup:
    """The circuit: layers left to right, components as nodes coloured by role.

    Args:
        nodes: ``{"id", "layer", "role", "kind"}``; ``layer`` may be None (drawn last).
        edges: ``{"source", "target", "weight"}`` between node ids (``logits`` allowed).
        n_layers: Number of layers of the model, if known (sets the axis).
    """
    layers = sorted({n["layer"] for n in nodes if n.get("layer") is not None})
    last = max(layers + [n_layers - 1 if n_layers else 0], default=0)
    roles = sorted({str(n.get("role") or "unassigned") for n in nodes})
    colour = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(roles)}
    cols: list[Any] = layers + ([None] if any(n.get("layer") is None for n in nodes) else [])
    cols = cols or [0]
    step_x, step_y, left, top = 90, 34, 40, 34
    per_col: dict[Any, list[dict[str, Any]]] = {}
    for node in nodes:
        per_col.setdefault(node.get("layer"), []).append(node)
    height = top + step_y * max((len(v) for v in per_col.values()), default=1) + 40 + 16 * len(roles)
    has_logits = any(e.get("target") == "logits" for e in edges)
    width = left + step_x * (len(cols) + (1 if has_logits else 0)) + 40
    root = _svg(width, height, "circuit diagram")
    ET.SubElement(root, "defs").append(_arrow_marker())
    pos: dict[str, tuple[float, float]] = {}
    for ci, layer in enumerate(cols):
        x = left + step_x * ci + 30
        _text(root, x, 16, "other" if layer is None else f"L{layer}",
              **{"text-anchor": "middle", "font-weight": "bold"})
        for ri, node in enumerate(sorted(per_col.get(layer, []), key=lambda n: str(n["id"]))):
            pos[str(node["id"])] = (x, top + step_y * ri + 12)
    if has_logits:
        pos["logits"] = (left + step_x * len(cols) + 30, top + 12)
    top_w = max((abs(float(e.get("weight") or 0.0)) for e in edges), default=0.0) or 1.0
    for edge in edges:
        a, b = pos.get(str(edge.get("source"))), pos.get(str(edge.get("target")))
        if a is None or b is None or a == b:
            continue
        w = float(edge.get("weight") or 0.0)
        line = ET.SubElement(root, "line", {
            "x1": f"{a[0] + 26:.1f}", "y1": f"{a[1]:.1f}", "x2": f"{b[0] - 28:.1f}", "y2": f"{b[1]:.1f}",
            "stroke": "#c0392b" if w < 0 else "#2c7bb6", "stroke-width": f"{1 + 3 * abs(w) / top_w:.2f}",
            "marker-end": "url(#arrow)", "opacity": "0.75",
            **({"stroke-dasharray": "5 3"} if edge.get("joint") else {}),
        })  # fmt: skip
        joint = f" (joint path into {edge['joint']})" if edge.get("joint") else ""
        _title(line, f"{edge.get('source')} → {edge.get('target')}: contribution {w:+.4g}{joint}")
    for node in nodes:
        if str(node["id"]) not in pos:
            continue
        nx, ny = pos[str(node["id"])]
        group = ET.SubElement(root, "g")
        role = str(node.get("role") or "unassigned")
        ET.SubElement(group, "rect", {"x": f"{nx - 26:.1f}", "y": f"{ny - 11:.1f}", "width": "52",
                                      "height": "22", "rx": "6", "fill": colour[role], "stroke": "#333"})
        _text(group, nx, ny + 4, _short(str(node["id"]), 8), **{"text-anchor": "middle", "fill": "#fff"})
        _title(group, f"{node['id']} · {role}")
    if has_logits:
        lx, ly = pos["logits"]
        ET.SubElement(root, "rect", {"x": f"{lx - 26:.1f}", "y": f"{ly - 11:.1f}", "width": "52",
                                     "height": "22", "rx": "6", "fill": "#444"})
        _text(root, lx, ly + 4, "logits", **{"text-anchor": "middle", "fill": "#fff"})
    for i, role in enumerate(roles):
        y = height - 16 * (len(roles) - i) - 4
        ET.SubElement(root, "rect", {"x": "8", "y": f"{y - 9:.1f}", "width": "10", "height": "10",
                                     "fill": colour[role]})
        _title(_text(root, 24, y, _short(role, 60)), role)
    _text(root, width - 8, 16, f"layers 0–{last}" if last else "", **{"text-anchor": "end", "fill": "#555"})
    return _done(root)


def _arrow_marker() -> ET.Element:
    marker = ET.Element("marker", {"id": "arrow", "viewBox": "0 0 10 10", "refX": "9", "refY": "5",
                                   "markerWidth": "6", "markerHeight": "6", "orient": "auto-start-reverse"})
    ET.SubElement(marker, "path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": "#555"})
    return marker


def _axes(root: ET.Element, x0: float, y0: float, x1: float, y1: float) -> None:
    ET.SubElement(root, "line", {"x1": str(x0), "y1": str(y1), "x2": str(x1), "y2": str(y1), "stroke": "#333"})
    ET.SubElement(root, "line", {"x1": str(x0), "y1": str(y0), "x2": str(x0), "y2": str(y1), "stroke": "#333"})


def null_histogram(
    observed: float | None, draws: Sequence[float] | None = None, mean: float | None = None,
    std: float | None = None, *, label: str = "null distribution", bins: int = 24,
) -> Markup | None:
    """The null distribution with the observed score marked.

    Draws are plotted as a histogram; with only ``mean``/``std`` a normal
    density is drawn instead (and says so). Returns None when there is
    nothing to plot.
    """
    values = [float(v) for v in draws or [] if isinstance(v, int | float) and math.isfinite(v)]
    if not values and (mean is None or std is None):
        return None
    width, height, left, bottom, top = 420, 190, 40, 30, 14
    points = values + [v for v in (observed,) if v is not None]
    if values:
        lo, hi = min(points), max(points)
    else:
        spread = 4 * (std or 0.0) or 1.0
        lo, hi = min(points + [mean - spread]), max(points + [mean + spread])  # type: ignore[operator]
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    root = _svg(width, height, label)
    plot_w, plot_h = width - left - 10, height - top - bottom

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    if values:
        counts = [0] * bins
        for v in values:
            counts[min(bins - 1, int((v - lo) / (hi - lo) * bins))] += 1
        peak = max(counts) or 1
        for b, c in enumerate(counts):
            h = c / peak * plot_h
            rect = ET.SubElement(root, "rect", {
                "x": f"{left + b * plot_w / bins:.1f}", "y": f"{top + plot_h - h:.1f}",
                "width": f"{plot_w / bins - 1:.1f}", "height": f"{h:.1f}", "fill": "#9ecae1"})
            _title(rect, f"{c} draws")
        caption = f"{len(values)} null draws"
    else:
        sd = max(float(std or 0.0), 1e-9)
        xs = [lo + (hi - lo) * k / 100 for k in range(101)]
        ys = [math.exp(-0.5 * ((x - float(mean or 0.0)) / sd) ** 2) for x in xs]
        path = " ".join(f"{'M' if k == 0 else 'L'} {sx(x):.1f} {top + plot_h - y * plot_h:.1f}"
                        for k, (x, y) in enumerate(zip(xs, ys, strict=True)))
        ET.SubElement(root, "path", {"d": path, "fill": "none", "stroke": "#3182bd", "stroke-width": "2"})
        caption = f"normal approximation of the null (mean {mean:.3g}, std {std:.3g}; draws not stored)"
    _axes(root, left, top, left + plot_w, top + plot_h)
    for v in (lo + pad, (lo + hi) / 2, hi - pad):
        _text(root, sx(v), top + plot_h + 14, f"{v:.3g}", **{"text-anchor": "middle"})
    if observed is not None:
        x = sx(observed)
        line = ET.SubElement(root, "line", {"x1": f"{x:.1f}", "y1": str(top), "x2": f"{x:.1f}",
                                            "y2": str(top + plot_h), "stroke": "#d62728", "stroke-width": "2"})
        _title(line, f"observed {observed:.4g}")
        right = x > left + 0.6 * plot_w
        _text(root, x - 3 if right else x + 3, top + 10, f"observed {observed:.3g}", fill="#d62728",
              **{"text-anchor": "end" if right else "start"})
    _text(root, left, height - 2, caption, fill="#555")
    return _done(root)


def line_chart(points: Sequence[Sequence[float]], *, label: str, x_label: str, y_label: str) -> Markup | None:
    """A simple line chart of ``[[x, y], ...]`` (e.g. the faithfulness curve)."""
    pts = [(float(p[0]), float(p[1])) for p in points
           if len(p) >= 2 and all(isinstance(v, int | float) and math.isfinite(v) for v in p[:2])]
    if len(pts) < 2:
        return None
    width, height, left, bottom, top = 420, 200, 44, 36, 12
    x_lo, x_hi = min(p[0] for p in pts), max(p[0] for p in pts)
    y_lo, y_hi = min(0.0, *(p[1] for p in pts)), max(1.0, *(p[1] for p in pts))
    plot_w, plot_h = width - left - 10, height - top - bottom
    root = _svg(width, height, label)

    def sx(v: float) -> float:
        return left + (v - x_lo) / ((x_hi - x_lo) or 1.0) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - (v - y_lo) / ((y_hi - y_lo) or 1.0) * plot_h

    _axes(root, left, top, left + plot_w, top + plot_h)
    path = " ".join(f"{'M' if k == 0 else 'L'} {sx(x):.1f} {sy(y):.1f}" for k, (x, y) in enumerate(pts))
    ET.SubElement(root, "path", {"d": path, "fill": "none", "stroke": "#3182bd", "stroke-width": "2"})
    for x, y in pts:
        dot = ET.SubElement(root, "circle", {"cx": f"{sx(x):.1f}", "cy": f"{sy(y):.1f}", "r": "2.5",
                                             "fill": "#3182bd"})
        _title(dot, f"{x_label} {x:g}: {y:.3g}")
    for v in (y_lo, (y_lo + y_hi) / 2, y_hi):
        _text(root, left - 4, sy(v) + 4, f"{v:.2g}", **{"text-anchor": "end"})
    for v in _ticks(x_lo, x_hi):
        ET.SubElement(root, "line", {"x1": f"{sx(v):.1f}", "y1": str(top + plot_h), "x2": f"{sx(v):.1f}",
                                     "y2": str(top + plot_h + 4), "stroke": "#333"})
        _text(root, sx(v), top + plot_h + 15, f"{v:g}", **{"text-anchor": "middle"})
    _text(root, left + plot_w / 2, height - 2, x_label, **{"text-anchor": "middle"})
    _text(root, left + 4, top + 8, y_label, fill="#555")
    return _done(root)


def _ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (at most ``most`` + 1 of them)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / most
    step = 10 ** math.floor(math.log10(raw))
    step = next((m * step for m in (1, 2, 5, 10) if m * step >= raw), 10 * step)
    first = math.ceil(lo / step) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def bars(items: Sequence[tuple[str, float]], *, label: str, scale: float | None = None) -> Markup | None:
    """Horizontal bars for a small ``(name, value in [0, 1]-ish)`` table (attention by role).

    ``scale`` is the value of a full bar; attention uses 1.0 so that every
    head's bars share one scale (a head with max 0.008 looks almost empty).
    """
    rows = [(str(k), float(v)) for k, v in items if isinstance(v, int | float) and math.isfinite(v)]
    if not rows:
        return None
    top_v = scale or max(abs(v) for _, v in rows) or 1.0
    left = 10 + 7 * max(len(_short(k, 24)) for k, _ in rows)
    width, height = left + 230, 18 * len(rows) + 8
    root = _svg(width, height, label)
    for i, (name, value) in enumerate(rows):
        y = 4 + 18 * i
        _title(_text(root, left - 4, y + 12, _short(name, 24), **{"text-anchor": "end"}), name)
        rect = ET.SubElement(root, "rect", {"x": str(left), "y": str(y), "height": "14",
                                            "width": f"{max(1.0, 180 * abs(value) / top_v):.1f}",
                                            "fill": "#6baed6" if value >= 0 else "#fc9272"})
        _title(rect, f"{name}: {value:.4g}")
        _text(root, left + 184, y + 12, f"{value:.3g}")
    return _done(root)
