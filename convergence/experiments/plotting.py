"""Plotting helpers (matplotlib, Agg backend). Plots read arrays only; they never simulate.

One style for every figure of the toolkit: the style sheet ``styles/paper.mplstyle`` (fonts, the
Okabe-Ito colour-blind-safe palette, constrained layout) plus the helpers here. Figures are sized to a
paper's column (:func:`figure_size`), multi-panel figures carry panel letters (:func:`label_panels`),
legends have unique entries and sit outside the data (:func:`legend_outside`, :func:`figure_legend`),
error bars on log axes stay positive (:func:`log_errorbar`), and :func:`figure_problems` lists what a
figure violates of these rules (the tests run it on every figure).
"""
from __future__ import annotations

import math
import os
import re
import string
from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from convergence.physics.devices import Device

#: Text widths in inches of a two-column paper page: ``full`` = 180 mm (both columns), ``half`` = 88 mm
#: (one column), as in Nature-family journals; every figure is one of these wide.
COLUMN_WIDTHS: dict[str, float] = {"full": 180 / 25.4, "half": 88 / 25.4}

#: Okabe & Ito (2008) colour-blind-safe palette, in the order of the style's colour cycle (yellow last:
#: it is hard to see as a thin line on white).
OKABE_ITO: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                              "#F0E442")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def paper_style() -> Iterator[Any]:
    """Context with the toolkit's shared matplotlib style; yields pyplot."""
    plt = _pyplot()
    style = resources.files("convergence") / "styles" / "paper.mplstyle"
    with resources.as_file(style) as path, plt.style.context(str(path)):
        yield plt


def figure_size(width: str = "full", aspect: float = 0.62) -> tuple[float, float]:
    """(width, height) in inches of a figure ``width`` = ``"full"`` or ``"half"`` a page wide (see
    :data:`COLUMN_WIDTHS`), height = aspect × width."""
    if width not in COLUMN_WIDTHS:
        raise ValueError(f"width must be one of {sorted(COLUMN_WIDTHS)} (got {width!r})")
    if not (math.isfinite(aspect) and aspect > 0):
        raise ValueError(f"aspect must be a finite number > 0 (got {aspect})")
    w = COLUMN_WIDTHS[width]
    return (w, aspect * w)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Save deterministically (no creation date in PDFs), creating parent folders."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    meta = {"CreationDate": None} if path.endswith(".pdf") else ({"Software": None} if path.endswith(".png") else None)
    with paper_style():   # the style's resolution and layout also when the figure is saved outside it
        fig.savefig(path, metadata=meta)


# -- legends, panel letters, error bars --------------------------------------------------------------

def _is_colorbar(ax: Any) -> bool:
    return hasattr(ax, "_colorbar") or ax.get_label() == "<colorbar>"


def panels(fig: Any) -> list[Any]:
    """The visible data axes of ``fig`` (no colour bars), in creation order."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison and not _is_colorbar(ax)]


def label_panels(axes: Iterable[Any]) -> None:
    """Prefix the titles of ``axes`` with the panel letters (a), (b), ... in the given order."""
    for letter, ax in zip(string.ascii_lowercase, axes):
        title = ax.get_title()
        ax.set_title(f"({letter}) {title}" if title else f"({letter})")


def unique_handles(axes: Iterable[Any]) -> tuple[list[Any], list[str]]:
    """Legend handles and labels of ``axes``, first occurrence of each label kept, in order."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    return list(seen.values()), list(seen)


def legend_outside(ax: Any, side: str = "right", **kw: Any) -> Any:
    """Legend of ``ax`` (unique labels) outside its data area: to the ``right`` or ``below`` the axes.

    Constrained layout makes room for it, so it never covers data. A legend below must not be wider than
    its axes (constrained layout then misplaces the panels): keep ``ncols`` small."""
    handles, labels = unique_handles([ax])
    if side == "right":
        kw = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, **kw}
    elif side == "below":
        from matplotlib.transforms import offset_copy

        # below the tick labels and the x label: their depth in points does not change with the layout
        fig = ax.get_figure()
        depth = (ax.bbox.y0 - ax.get_tightbbox(fig.canvas.get_renderer()).y0) * 72.0 / fig.dpi + 3.0
        kw = {"loc": "upper center", "bbox_to_anchor": (0.5, 0.0), "borderaxespad": 0.0, "ncols": 1,
              "bbox_transform": offset_copy(ax.transAxes, fig=fig, y=-depth, units="points"), **kw}
    else:
        raise ValueError(f"side must be 'right' or 'below' (got {side!r})")
    return ax.legend(handles, labels, **kw)


def figure_legend(fig: Any, axes: Sequence[Any] | None = None, loc: str = "outside lower center",
                  **kw: Any) -> Any:
    """One legend for the whole figure, outside all panels, with each label once (the union over ``axes``,
    default all panels)."""
    handles, labels = unique_handles(panels(fig) if axes is None else axes)
    ncols = kw.pop("ncols", min(len(labels), 4) or 1)
    renderer = fig.canvas.get_renderer()
    while True:   # fewer columns until the legend fits the figure's width
        lg = fig.legend(handles, labels, loc=loc, ncols=ncols, **kw)
        if ncols <= 1 or lg.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            return lg
        lg.remove()
        ncols -= 1


def log_errorbar(ax: Any, x: Any, y: Any, err: Any, **kw: Any) -> Any:
    """``ax.errorbar`` for a log y axis: symmetric error ``err`` whose lower end is clipped to stay positive.

    Where y − err ≤ 0 the lower bar ends at half the smallest positive value shown (y or a valid lower
    end), so it reaches down to the bottom of the data instead of running off the axis."""
    y = np.asarray(y, dtype=float)
    err = np.broadcast_to(np.asarray(err, dtype=float), y.shape)
    lo_end = y - err
    shown = np.concatenate([y[y > 0], lo_end[lo_end > 0]])
    floor = 0.5 * float(shown.min()) if shown.size else 1e-300
    lower = y - np.maximum(lo_end, floor)
    return ax.errorbar(x, y, yerr=np.vstack([np.maximum(lower, 0.0), err]), **kw)


def span_limits(ax: Any, axis: str = "y", pad: float = 0.05) -> None:
    """Set the limits of ``ax`` along ``axis`` to contain every data line entirely (plus ``pad`` of the span,
    in log space on log axes): nothing a curve shows is cut off by an explicit limit."""
    import matplotlib.lines as mlines

    vals = []
    for line in ax.get_lines():
        if not isinstance(line, mlines.Line2D) or line.get_transform() != ax.transData:
            continue
        v = np.asarray(line.get_ydata() if axis == "y" else line.get_xdata(), dtype=float)
        vals.append(v[np.isfinite(v)])
    v = np.concatenate(vals) if vals else np.array([])
    log = (ax.get_yscale() if axis == "y" else ax.get_xscale()) == "log"
    if log:
        v = v[v > 0]
    if not v.size:
        return
    lo, hi = float(v.min()), float(v.max())
    if log:
        f = (hi / lo) ** pad if hi > lo else 2.0
        lo, hi = lo / f, hi * f
    else:
        d = (hi - lo) * pad if hi > lo else max(abs(hi), 1.0) * pad
        lo, hi = lo - d, hi + d
    (ax.set_ylim if axis == "y" else ax.set_xlim)(lo, hi)


def wrap_text(fig: Any, text: str, width: float, fontsize: float) -> str:
    """``text`` broken into lines no wider than ``width`` inches when drawn at ``fontsize`` in ``fig``
    (greedy, measured with the figure's renderer, so ``$...$`` math is measured as drawn; a math segment
    must carry no spaces to stay on one line)."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    probe = Text(0, 0, "", fontsize=fontsize, figure=fig)
    limit = width * fig.dpi

    def wide(line: str) -> bool:
        probe.set_text(line)
        return probe.get_window_extent(renderer).width > limit

    lines: list[str] = []
    for word in text.split():
        if lines and not wide(f"{lines[-1]} {word}"):
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


#: Fewest labelled decades for which :func:`ticks_at` keeps a log axis's own decade ticks.
MIN_DECADE_TICKS = 3
#: Most swept values :func:`ticks_at` labels one by one.
MAX_VALUE_TICKS = 8


def ticks_at(ax: Any, values: Any, axis: str = "x") -> None:
    """Major ticks of ``ax`` at the swept ``values`` with plain labels (``:g``), no minor tick labels: a log
    axis spanning less than a decade otherwise prints overlapping "2×10⁰ 3×10⁰ ..." labels, and one spanning a
    decade or two shows only one or two labelled ticks. A log axis holding :data:`MIN_DECADE_TICKS` decade ticks or
    more (or more than :data:`MAX_VALUE_TICKS` values) keeps its decade ticks, with the minor labels dropped."""
    from matplotlib.ticker import NullFormatter, NullLocator

    v = np.unique(np.asarray(values, dtype=float).ravel())
    a = ax.xaxis if axis == "x" else ax.yaxis
    pos = v[v > 0]
    if (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log" and pos.size:
        lo, hi = np.log10(pos.min()), np.log10(pos.max())
        decades = math.floor(hi + 1e-9) - math.ceil(lo - 1e-9) + 1
        if decades >= MIN_DECADE_TICKS or v.size > MAX_VALUE_TICKS:
            a.set_minor_formatter(NullFormatter())   # the decade ticks read well, labels in between would crowd
            return
    (ax.set_xticks if axis == "x" else ax.set_yticks)(v, [f"{x:g}" for x in v])
    a.set_minor_locator(NullLocator())
    a.set_minor_formatter(NullFormatter())


def clean_number(x: float, fmt: str = ".3g") -> str:
    """``x`` formatted with ``fmt``, without a minus sign on a value that rounds to zero (no "−0")."""
    s = format(float(x), fmt)
    return s[1:] if s.startswith("-") and float(s) == 0.0 else s


# -- the rules every figure follows ------------------------------------------------------------------

_MATH = re.compile(r"(?<!\\)\$.*?(?<!\\)\$")


def raw_markup(text: str) -> bool:
    """True if ``text`` has a ``^`` or ``_`` outside ``$...$`` (TeX markup a reader would see literally)."""
    return any(c in _MATH.sub("", text) for c in "^_")


def _display_points(artist: Any) -> np.ndarray:
    """Display coordinates of the data of a line or collection, segments densified so a line crossing a
    box between two of its points is seen."""
    import matplotlib.collections as mcoll
    import matplotlib.lines as mlines

    if isinstance(artist, mlines.Line2D):
        paths = [artist.get_transform().transform(np.asarray(artist.get_xydata(), dtype=float))]
        join = artist.get_linestyle() not in ("None", "none", "", " ")
    elif isinstance(artist, mcoll.LineCollection):
        paths = [artist.get_transform().transform(np.asarray(s, dtype=float)) for s in artist.get_segments()]
        join = True
    elif isinstance(artist, mcoll.PathCollection):
        paths = [artist.get_offset_transform().transform(np.asarray(artist.get_offsets(), dtype=float))]
        join = False
    else:
        return np.empty((0, 2))
    out = []
    for p in paths:
        p = p[np.all(np.isfinite(p), axis=1)]
        if join and len(p) > 1:
            t = np.linspace(0.0, 1.0, 12)[:, None, None]
            p = (p[:-1][None] * (1 - t) + p[1:][None] * t).reshape(-1, 2)
        out.append(p)
    return np.concatenate(out) if out else np.empty((0, 2))


def _shown_tick_labels(axis: Any, lo: float, hi: float) -> int:
    """Tick labels of ``axis`` (major and minor) with text, drawn, inside the view [``lo``, ``hi``]."""
    tol = 1e-9 * (abs(lo) + abs(hi))
    return sum(1 for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
               if tick.label1.get_visible() and tick.label1.get_text().strip()
               and lo - tol <= tick.get_loc() <= hi + tol)


def figure_problems(fig: Any) -> list[str]:
    """What ``fig`` violates of the toolkit's figure rules, one line each (empty: none).

    Rules: width one of :data:`COLUMN_WIDTHS`; every panel has an x and a y label (or shares that axis
    with a panel that has one) and every colour bar a label; no ``^``/``_`` outside ``$...$`` in any
    text; no legend repeats a label; no legend inside an axes covers or is crossed by its data; every
    text lies inside the figure; panels of a multi-panel figure are titled (a), (b), ... in order;
    lines are not cut off by explicit axis limits; no error bar reaches ≤ 0 on a log axis; every log axis of a panel
    shows at least two tick labels (one lone "10¹" does not say which way the scale runs: :func:`ticks_at`)."""
    import matplotlib.collections as mcoll
    import matplotlib.lines as mlines
    import matplotlib.text as mtext

    probs: list[str] = []
    width = fig.get_figwidth()
    if not any(abs(width - w) < 1e-6 for w in COLUMN_WIDTHS.values()):
        probs.append(f"figure width {width:.3f} in is not a column width {sorted(COLUMN_WIDTHS.values())}")
    fig.canvas.draw()
    fbox = fig.bbox
    ticks = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels(which="both")}
    for t in fig.findobj(mtext.Text):
        s = t.get_text()
        if not s or not t.get_visible():
            continue
        if raw_markup(s):
            probs.append(f"raw ^ or _ outside $...$ in text {s!r}")
        if id(t) in ticks:   # laid out by matplotlib; labels of ticks outside the view are never drawn
            continue
        bb = t.get_window_extent()
        if bb.x0 < fbox.x0 - 1 or bb.x1 > fbox.x1 + 1 or bb.y0 < fbox.y0 - 1 or bb.y1 > fbox.y1 + 1:
            probs.append(f"text {s!r} extends outside the figure")
    legends = [lg for lg in fig.legends] + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for lg in legends:
        labels = [t.get_text() for t in lg.get_texts()]
        dup = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dup:
            probs.append(f"legend repeats labels {dup}")
    ps = panels(fig)
    for i, ax in enumerate(ps):
        name = ax.get_title() or f"panel {i}"
        for axis in ("x", "y"):
            group = (ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()).get_siblings(ax)
            if not any((a.get_xlabel() if axis == "x" else a.get_ylabel()).strip() for a in group):
                probs.append(f"{name!r} has no {axis} label")
        lg = ax.get_legend()
        if lg is not None:
            box = lg.get_window_extent()
            abox = ax.bbox
            for art in [*ax.get_lines(), *ax.collections]:
                p = _display_points(art)
                p = p[(p[:, 0] >= abox.x0) & (p[:, 0] <= abox.x1) & (p[:, 1] >= abox.y0) & (p[:, 1] <= abox.y1)]
                inside = (p[:, 0] > box.x0) & (p[:, 0] < box.x1) & (p[:, 1] > box.y0) & (p[:, 1] < box.y1)
                if inside.any():
                    probs.append(f"legend of {name!r} covers data ({art.get_label() or type(art).__name__})")
                    break
        x0, x1 = sorted(ax.get_xlim())
        y0, y1 = sorted(ax.get_ylim())
        for line in ax.get_lines():
            if line.get_transform() != ax.transData or not isinstance(line, mlines.Line2D):
                continue
            xy = np.asarray(line.get_xydata(), dtype=float)
            xy = xy[np.all(np.isfinite(xy), axis=1)]
            if ax.get_yscale() == "log":
                xy = xy[xy[:, 1] > 0]
            if ax.get_xscale() == "log":
                xy = xy[xy[:, 0] > 0]
            tol_x, tol_y = 1e-9 * (abs(x0) + abs(x1)), 1e-9 * (abs(y0) + abs(y1))
            if xy.size and (xy[:, 0].min() < x0 - tol_x or xy[:, 0].max() > x1 + tol_x
                            or xy[:, 1].min() < y0 - tol_y or xy[:, 1].max() > y1 + tol_y):
                probs.append(f"line {line.get_label()!r} of {name!r} is cut off by the axis limits")
        for axis, (lo_v, hi_v) in ((ax.xaxis, (x0, x1)), (ax.yaxis, (y0, y1))):
            # a panel sharing the axis with one that labels it (sharey's inner panels) needs no labels of its own
            group = (ax.get_shared_x_axes() if axis.axis_name == "x" else ax.get_shared_y_axes()).get_siblings(ax)
            if axis.get_scale() == "log" and max(_shown_tick_labels(a.xaxis if axis.axis_name == "x" else a.yaxis,
                                                                    lo_v, hi_v) for a in group) < 2:
                probs.append(f"the log {axis.axis_name} axis of {name!r} shows fewer than two tick labels")
        if ax.get_yscale() == "log":
            for coll in ax.collections:
                if isinstance(coll, mcoll.LineCollection) and coll.get_segments():
                    ys = np.concatenate([np.asarray(s, dtype=float)[:, 1] for s in coll.get_segments()])
                    if np.any(ys <= 0):
                        probs.append(f"an error bar of {name!r} reaches ≤ 0 on its log axis")
    for ax in fig.axes:
        if _is_colorbar(ax) and ax.get_visible() and not (ax.get_xlabel().strip() or ax.get_ylabel().strip()):
            probs.append("a colour bar has no label")
    if len(ps) > 1:
        want = [f"({c})" for c in string.ascii_lowercase[:len(ps)]]
        got = [ax.get_title().split(" ")[0] if ax.get_title() else "" for ax in ps]
        if got != want:
            probs.append(f"panel letters {got} are not {want}")
    return probs


# -- devices ------------------------------------------------------------------------------------------

def device_curves(device: Device, n: int = 401, margin: float = 0.0) -> dict[str, np.ndarray]:
    """Arrays of q+, q-, F, G over the device range (or [-2, 2] when unbounded)."""
    lo, hi = device.bounds
    if not np.isfinite(lo) or not np.isfinite(hi):
        lo, hi = -2.0, 2.0
    span = hi - lo
    w = np.linspace(lo - margin * span, hi + margin * span, n)
    return {"w": w, "q_plus": device.q_plus(w), "q_minus": device.q_minus(w), "F": device.F(w), "G": device.G(w)}


_FAMILY = {"ideal": "ideal device", "softbounds": "soft bounds", "linear": "linear ($c_{\\mathrm{Lin}}$)",
           "linearstep": "linear step", "power": "power", "exp": "exponential", "constant": "constant step"}
_PARAM = {"tau": "\\tau", "w_sym": "w_\\diamond", "c": "c", "gamma": "\\gamma", "tau_max": "\\tau_{\\max}",
          "tau_min": "\\tau_{\\min}", "w_max": "w_{\\max}", "w_min": "w_{\\min}"}
_PARAM_TEXT = {"up_down": "up/down"}


def device_title(spec: str, multiline: bool = False) -> str:
    """A readable title of a device spec string: ``"softbounds:tau=1,w_sym=0.3"`` becomes
    "soft bounds, $\\tau$ = 1, $w_\\diamond$ = 0.3" (parameter names as symbols); ``multiline``: the
    parameters on a second line."""
    family, _, params = str(spec).partition(":")
    parts = [_FAMILY.get(family, family.replace("_", " "))]
    vals: dict[str, str] = {}
    for item in filter(None, params.split(",")):
        key, _, val = item.partition("=")
        if val in ("None", ""):
            continue
        try:
            vals[key] = clean_number(float(val), "g")
        except ValueError:
            vals[key] = val
    if "w_min" in vals and "w_max" in vals:   # hard bounds as one range
        parts.append(f"$w\\in[{vals.pop('w_min')}, {vals.pop('w_max')}]$")
    for key, val in vals.items():
        sym = _PARAM.get(key)
        parts.append(f"${sym}$ = {val}" if sym else f"{_PARAM_TEXT.get(key, key.replace('_', ' '))} = {val}")
    if multiline and len(parts) > 1:
        return parts[0] + "\n" + ", ".join(parts[1:])
    return ", ".join(parts)


def device_figure(device: Device) -> Any:
    """Full-width figure of one device: (a) q+ and q-, (b) F and G, the symmetric point marked, titled with
    :func:`device_title`. Call inside :func:`paper_style`."""
    import matplotlib.pyplot as plt

    c = device_curves(device)
    sym = device.symmetric_point
    fig, (a, b) = plt.subplots(1, 2, figsize=figure_size("full", 0.42), sharex=True)
    a.plot(c["w"], c["q_plus"], label="$q_+(w)$ (up)")
    a.plot(c["w"], c["q_minus"], label="$q_-(w)$ (down)")
    b.plot(c["w"], c["F"], color="C2", ls="--", label="$F = (q_- + q_+)/2$")
    b.plot(c["w"], c["G"], color="C3", ls=":", label="$G = (q_- - q_+)/2$")
    b.axhline(0.0, color="0.6", lw=0.5)
    for ax in (a, b):
        if np.isfinite(sym):
            ax.axvline(sym, color="k", ls="-.", lw=0.8, label=f"symmetric point $w_\\diamond$ = {clean_number(sym)}")
        ax.set_xlabel("weight $w$")
    a.set_ylabel("response factor $q_\\pm(w)$")
    b.set_ylabel("$F(w)$, $G(w)$")
    a.set_title("response functions")
    b.set_title("symmetric and asymmetric parts")
    label_panels((a, b))
    figure_legend(fig, ncols=3)
    fig.suptitle(device_title(device.spec()))
    return fig


def plot_device(device: Device, out: str | os.PathLike[str]) -> None:
    """Write :func:`device_figure` of ``device`` to ``out``."""
    with paper_style() as plt:
        fig = device_figure(device)
        save_figure(fig, out)
        plt.close(fig)
