"""Shared look of every chart: one colour per system, the figure type, axes that fit, labels that never overlap.

Figures are :class:`ChartFigure` objects built without pyplot, so they never touch pyplot's
global state or the backend: safe in scripts (``fig.savefig``), tests and threads, and freed
when the last reference goes (no ``plt.close``, no leak when many are made). In Jupyter,
JupyterLab and VS Code a returned figure displays itself as a PNG through ``_repr_png_``,
with no ``%matplotlib inline`` (a Figure made without pyplot is otherwise shown as the text
``<Figure size ... with 1 Axes>``, because the inline backend only formats pyplot's figures).

Every text a chart draws is plain text: a system name such as ``$x^$`` is written as it is, not
parsed as matplotlib mathtext (which would fail on it, or typeset it). Only the tick labels that
matplotlib formats itself from numbers (``10^3`` on a log axis) keep their mathtext.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.category import StrCategoryFormatter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FixedFormatter, FuncFormatter
from matplotlib.transforms import Bbox

OKABE_ITO: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
                              "#F0E442")
"""Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
Yellow, the weakest on white, comes last."""

NOTE_COLOR = "#555555"
UPPER_BOUND_HATCH = "///"
"""How an upper bound (the oracle) is drawn: hatched, never as a competitor."""


class ChartFigure(Figure):
    """A matplotlib Figure that notebooks display as a PNG without pyplot or ``%matplotlib inline``.

    Axes passed to :func:`fit_tick_labels` get their x tick labels slanted, at draw time, when
    two of them would touch in the laid-out figure (whatever size or resolution it is drawn at).
    """

    def draw(self, renderer) -> None:
        plain_text(self)
        fitted = [ax for ax in getattr(self, "_fit_ticks", ()) if ax.figure is self]
        if fitted:
            for ax in fitted:
                if getattr(ax, "_evalkit_slanted", False):
                    _slant(ax, False)  # judged again at this size
            engine = self.get_layout_engine()
            if engine is not None:
                engine.execute(self)  # the final positions, to judge the labels by
            for ax in fitted:
                if _labels_touch(ax, renderer):
                    _slant(ax)
        super().draw(renderer)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight", facecolor="white")
        return buffer.getvalue()


def plain_text(fig: Figure) -> None:
    """Draw every text of ``fig`` as written (no mathtext), except tick labels matplotlib formats from numbers."""
    numeric: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            numeric.add(id(axis.offsetText))
            for ticks, formatter in ((axis.get_major_ticks(len(axis.get_majorticklocs())), axis.get_major_formatter()),
                                     (axis.get_minor_ticks(len(axis.get_minorticklocs())), axis.get_minor_formatter())):
                # set_xticks(x, labels) and category axes write given text; any other formatter writes numbers
                if not isinstance(formatter, (FixedFormatter, FuncFormatter, StrCategoryFormatter)):
                    numeric.update(id(label) for tick in ticks for label in (tick.label1, tick.label2))
    for text in fig.findobj(Text):
        if id(text) not in numeric:
            text.set_parse_math(False)


def new_figure(width: float, height: float) -> ChartFigure:
    fig = ChartFigure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)  # a renderer to measure text with (label placement); savefig still picks by format
    return fig


def text_color(color: str) -> str:
    """A colour readable as text on white (the palette's yellow is darkened)."""
    return "#8A7F00" if color == OKABE_ITO[-1] else color


def style(ax: Axes, grid_axis: str = "y") -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis=grid_axis, color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)


def fit_tick_labels(ax: Axes) -> None:
    """Slant the x tick labels of ``ax`` whenever two would touch once the figure is laid out
    (decided each time a :class:`ChartFigure` is drawn)."""
    fig = ax.figure
    fig._fit_ticks = [*getattr(fig, "_fit_ticks", ()), ax]


def _labels_touch(ax: Axes, renderer) -> bool:
    boxes = sorted((label.get_window_extent(renderer) for label in ax.get_xticklabels() if label.get_text()),
                   key=lambda box: box.x0)
    gap = 4 * ax.figure.dpi / 72  # 4 points
    return any(a.x1 + gap > b.x0 for a, b in zip(boxes, boxes[1:]))


def _slant(ax: Axes, slanted: bool = True) -> None:
    """Slant the x tick labels by 30° (right-aligned to their tick), or set them upright again."""
    ax._evalkit_slanted = slanted
    ax.tick_params(axis="x", labelrotation=30 if slanted else 0)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right" if slanted else "center")
        label.set_rotation_mode("anchor" if slanted else "default")


NAME_LIMIT = 28
"""Longest system name a chart writes out; a longer one keeps its start and end around "…"."""


def short_names(names: Sequence[str], limit: int = NAME_LIMIT) -> dict[str, str]:
    """Each name as charts write it: whole up to ``limit`` characters, else its start and end around
    "…" (``hf-chat:HuggingFaceTB/SmolLM2-135M-Instruct`` -> ``hf-chat:HuggingF…5M-Instruct``),
    with as many more characters as it takes to keep the names distinct."""
    names = list(dict.fromkeys(names))
    width = limit
    while True:
        shown = {name: _shorten(name, width) for name in names}
        if len(set(shown.values())) == len(shown) or all(s == n for n, s in shown.items()):
            return shown
        width += 4


def _shorten(name: str, width: int) -> str:
    if len(name) <= width:
        return name
    head = (width - 1) * 3 // 5
    tail = width - 1 - head
    return name[:head] + "…" + (name[-tail:] if tail else "")


def system_handles(systems: Sequence[str], colors: Mapping[str, str], labels: Mapping[str, str],
                   kind: str = "patch", upper_bounds: Sequence[str] = ()) -> list:
    """Legend entries, one per system, named as the chart's axes name them (``labels``: ``View.labels``)."""

    def label(s: str) -> str:
        return f"{labels[s]} (upper bound)" if s in upper_bounds else labels[s]

    if kind == "patch":
        return [Patch(facecolor=colors[s], edgecolor="white", hatch=UPPER_BOUND_HATCH if s in upper_bounds else None,
                      label=label(s)) for s in systems]
    return [Line2D([], [], marker="D" if s in upper_bounds else "o", linestyle="none", color=colors[s],
                   label=label(s)) for s in systems]


def fit_axis(ax: Axes, axis: str, lows: Sequence[float], highs: Sequence[float], *, min_span: float,
             label: str, floor: float | None = None, ceiling: float | None = None) -> None:
    """Limit one axis to the data (with a margin) but never narrower than ``min_span``; name a cut-off zero.

    A narrow span makes a small gap look large, so ``min_span`` (in the axis' units) keeps
    the axis at least that wide around the data. When the axis does not start at 0 the
    label says so.
    """
    low, high = float(np.nanmin(lows)), float(np.nanmax(highs))
    span = max(high - low, min_span)
    middle = (low + high) / 2
    low, high = middle - span * 0.58, middle + span * 0.58
    pad = span * 0.04  # a point at the bound (100 %) stays fully visible
    if ceiling is not None and high > ceiling:
        high, low = ceiling + pad, ceiling - span * 1.16
    if floor is not None and low < floor:
        low, high = floor - pad, max(high, floor + span * 1.16)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(low, high)
    if low > 0:
        label += f"  [axis from {low:.3g}, not 0]"
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)


_OFFSETS = ((7, 5), (7, -13), (-7, 5), (-7, -13), (0, 12), (0, -20), (12, 16), (12, -24), (-12, 16), (-12, -24),
            (16, -4), (-16, -4), (20, 26), (20, -34), (-20, 26), (-20, -34))


def place_labels(ax: Axes, points: Sequence[tuple[float, float]], labels: Sequence[str],
                 colors: Sequence[str], *, fontsize: float = 9.0) -> list:
    """Label each point next to it, trying positions around it until the label overlaps no other label or point.

    The figure is laid out first so positions are measured in the final pixels; a label
    that finds no free spot keeps the least-overlapping one and gets a leader line.
    """
    fig = ax.figure
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    marks = [Bbox.from_bounds(x - 6, y - 6, 12, 12) for x, y in ax.transData.transform(np.asarray(points, float))]
    placed: list[Bbox] = []
    texts = []
    for i, (point, label, color) in enumerate(zip(points, labels, colors)):
        best = None
        for dx, dy in _OFFSETS:
            text = ax.annotate(label, point, xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               ha="left" if dx > 0 else ("right" if dx < 0 else "center"), va="bottom",
                               color=color, parse_math=False, annotation_clip=False)
            box = text.get_window_extent(renderer).expanded(1.05, 1.15)
            others = placed + [m for j, m in enumerate(marks) if j != i]
            overlap = sum(_area(box, other) for other in others) + _outside(box, ax.get_window_extent(renderer))
            if best is None or overlap < best[0]:
                if best is not None:
                    best[1].remove()
                best = (overlap, text, box, (dx, dy))
            else:
                text.remove()
            if overlap == 0:
                break
        _, text, box, (dx, dy) = best
        if best[0] > 0 or abs(dx) + abs(dy) > 20:
            text.remove()
            text = ax.annotate(label, point, xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               ha=text.get_ha(), va="bottom", color=color, parse_math=False, annotation_clip=False,
                               arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.6,
                                           "shrinkA": 0, "shrinkB": 5})
        placed.append(box)
        texts.append(text)
    return texts


def room_above(ax: Axes, texts: Sequence, *, pad_points: float = 3.0) -> None:
    """Raise the top of ``ax``'s y axis until every text in ``texts`` (value labels over bars) ends inside the
    axes, ``pad_points`` below its top, so no label runs into the panel title or the figure's title above.

    Measured in the laid-out figure; a few rounds, since raising the top moves the labels down.
    """
    if not texts:
        return
    fig = ax.figure
    for _ in range(4):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        frame = ax.get_window_extent(renderer)
        pad = pad_points * fig.dpi / 72
        over = max(t.get_window_extent(renderer).y1 for t in texts) - (frame.y1 - pad)
        if over <= 0:
            return
        low, high = ax.get_ylim()
        per_pixel = (high - low) / max(frame.height, 1.0)
        ax.set_ylim(low, high + 1.15 * over * per_pixel)


def _area(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box: Bbox, frame: Bbox) -> float:
    inside = _area(box, frame)
    return box.width * box.height - inside


def wrapped(text: str, width_in: float, fontsize: float = 12.0) -> str:
    """``text`` wrapped to fit ``width_in`` inches at ``fontsize`` (so a title is never cut off)."""
    import textwrap

    return textwrap.fill(text, max(20, int(width_in * 72 / (fontsize * 0.62))), break_on_hyphens=False)


def suptitle(fig: Figure, text: str) -> None:
    fig.suptitle(wrapped(text, fig.get_figwidth() * 0.95, 12.0), fontweight="bold")
