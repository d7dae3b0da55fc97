"""The paper's figures as PNGs (matplotlib, no display): RSA per layer (Fig. 2), training-size
curves (Fig. 3), learning-rate box plots (Fig. 4), validation loss and metric vs steps (Fig. 5)
and adapter-size bars (Table 5).

Every figure is a grid of panels, one per task (and per other setting the figure does not
show), so that two metrics never share an axis; the grid wraps into rows, so a panel keeps its
size at 12 tasks; curves carry a band over seeds (mean ± std); the legend sits below the
panels, never over the data."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from adapterlab.methods import find_method, own_axes_of  # noqa: E402
from adapterlab.names import Method  # noqa: E402
from adapterlab.report.tables import Observation  # noqa: E402
from adapterlab.runs import RunRecord  # noqa: E402
from adapterlab.setting import Column  # noqa: E402

METHOD_KEYS = ("method", "adapter_size")
OTHER_COLOR = "#777777"  # a series whose method is not registered
PANEL = (4.4, 3.2)  # inches per panel; at the report's dpi a panel is about 480 x 350 pixels
COLUMNS = 3  # panels per row before a figure wraps
STYLES = ["-", "--", ":", "-."]
DPI = 110


def _own_axes(column: Column) -> tuple[str, ...]:
    """The column's axes that are its method's own (a PEFT method's rank, ...): part of the
    method's name, as the adapter size is."""
    own = own_axes_of(column.method)
    return tuple(key for key, _ in column.axes if key in own)


def _name(column: Column, *extra: str) -> str:
    """A figure's series: the method and its own axes (and `extra` labels), e.g. "adapter m=64", "lora lora_r=4 lr=0.002"."""
    return column.only(*METHOD_KEYS, *_own_axes(column), *extra).name


def _rest(column: Column, shown: tuple[str, ...]) -> str:
    """Every other grid label (seed aside), so that a panel or bar group never pools two settings
    a figure does not show, e.g. k=1000 and k=5000 in one learning-rate box."""
    return column.without(*shown, *_own_axes(column)).name


def _panels(records: list[RunRecord], shown: tuple[str, ...]) -> dict[str, list[RunRecord]]:
    """Runs grouped into panels: one per task and setting the figure does not show."""
    panels: dict[str, list[RunRecord]] = {}
    for r in records:
        title = " ".join(part for part in (r.setting.task, _rest(r.setting.column, shown)) if part)
        panels.setdefault(title, []).append(r)
    return panels


def _ok(records: list[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.result.test_metric is not None]


def _test(record: RunRecord) -> float:
    """The test metric of a record _ok kept."""
    assert record.result.test_metric is not None
    return record.result.test_metric


def shades(names: list[str], method_of: Callable[[str], str | None] = lambda name: name.split()[0]) -> dict[str, str]:
    """A colour per series: its method's colour (its Method's color), from darker to lighter over the
    method's series in order, so that two series of one method never share a colour.
    method_of: a series' method (default: the first word of its name)."""
    by_method: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        by_method.setdefault(method_of(name) or "", []).append(name)
    colors = {}
    for method, members in by_method.items():
        found = find_method(method)
        base = np.array(to_rgb(found.color if found else OTHER_COLOR))
        for i, name in enumerate(members):
            shift = (
                0.0 if len(members) == 1 else -0.4 + 0.8 * i / (len(members) - 1)
            )  # < 0: towards black, > 0: towards white
            colors[name] = to_hex(tuple(base * (1 + shift) if shift < 0 else base + (1 - base) * shift))
    return colors


def panel_grid(count: int, columns: int = COLUMNS, size: tuple[float, float] = PANEL) -> tuple[Figure, list[Axes]]:
    """A figure of `count` panels, `columns` to a row (fewer when there are fewer panels), each of
    the same size whatever the count; returns (figure, the panels' axes in order)."""
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _legend_below(fig: Figure, axes: list[Axes]) -> None:
    """One legend for every panel, below them (each series once)."""
    entries: dict[str, Artist] = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(name, handle)
    if entries:
        fig.legend(
            list(entries.values()),
            list(entries),
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(len(entries), 4),
            fontsize=8,
            frameon=False,
        )


def _save(fig: Figure, path: Path, axes: list[Axes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    _legend_below(fig, axes)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _band(ax: Axes, xs: list[Any], groups: list[list[float]], name: str, **style: Any) -> None:
    """A line through the means over seeds with a band of ± one std."""
    means = [statistics.mean(g) for g in groups]
    stds = [statistics.stdev(g) if len(g) > 1 else 0.0 for g in groups]
    ax.plot(xs, means, label=name, marker="o" if len(xs) < 12 else None, markersize=3, **style)
    ax.fill_between(
        xs,
        [m - s for m, s in zip(means, stds)],
        [m + s for m, s in zip(means, stds)],
        alpha=0.15,
        color=style.get("color"),
        linewidth=0,
    )


def plot_train_size(records: list[RunRecord], path: Path) -> Path | None:
    """Fig. 3: test metric vs number of training examples, a panel per task, mean ± std over seeds."""
    records = [r for r in _ok(records) if r.setting.column.train_size is not None]
    size_of: Callable[[RunRecord], int] = lambda r: r.setting.column.train_size or 0  # noqa: E731  (not None: kept above)
    if not records:
        return None
    panels = _panels(records, ("task", "train_size", "lr", *METHOD_KEYS))  # each method's rates in one panel, as series
    colors = shades([_name(r.setting.column, "lr") for r in records])
    fig, axes = panel_grid(len(panels))
    for ax, (title, panel) in zip(axes, panels.items()):
        series: dict[str, dict[int, list[float]]] = {}
        for r in panel:
            series.setdefault(_name(r.setting.column, "lr"), {}).setdefault(size_of(r), []).append(100 * _test(r))
        for name, points in series.items():
            xs = sorted(points)
            _band(ax, xs, [points[x] for x in xs], name, color=colors[name])
        ax.set_xscale("log")
        # Label the sizes that were run; log-scale minor ticks would print "3x10^2" over each other.
        sizes = sorted({size_of(r) for r in panel})
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(sizes)
        ax.set_xticklabels([f"{size:,}" for size in sizes], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training examples")
        ax.set_ylabel(f"test {panel[0].result.metric or 'metric'} ×100")
    return _save(fig, path, axes)


def plot_lr_boxes(records: list[RunRecord], path: Path) -> Path | None:
    """Fig. 4: distribution over seeds of the test metric at each learning rate, per method; a panel per task."""
    records = [r for r in _ok(records) if r.setting.column.lr is not None]
    if not records:
        return None
    panels = _panels(records, ("task", "lr", *METHOD_KEYS))
    colors = shades([_name(r.setting.column) for r in records])
    fig, axes = panel_grid(len(panels))
    for ax, (title, panel) in zip(axes, panels.items()):
        rates = sorted({r.setting.column.lr or 0.0 for r in panel})  # not None: kept above
        methods = list(dict.fromkeys(_name(r.setting.column) for r in panel))
        width = 0.8 / max(len(methods), 1)
        for i, method in enumerate(methods):
            data = [
                [100 * _test(r) for r in panel if _name(r.setting.column) == method and r.setting.column.lr == lr]
                for lr in rates
            ]
            positions = [j + (i - (len(methods) - 1) / 2) * width for j, values in enumerate(data) if values]
            boxes = ax.boxplot(
                [values for values in data if values], positions=positions, widths=width * 0.9, patch_artist=True
            )
            color = colors[method]
            for box in boxes["boxes"]:
                box.set_facecolor(color)
                box.set_alpha(0.6)
            ax.plot([], [], color=color, label=method, linewidth=6, alpha=0.6)
        ax.set_xticks(range(len(rates)))
        ax.set_xticklabels([f"{lr:g}" for lr in rates], fontsize=8)
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"test {panel[0].result.metric or 'metric'} ×100")
        ax.set_title(title, fontsize=10)
    return _save(fig, path, axes)


def overfitting_panels(curves: list[Any]) -> dict[tuple[str, str], dict[str, dict[int, list[float]]]]:
    """Fig. 5's panels: {(panel title, quantity): {series: {step: [value per seed]}}}, a pair of
    panels (validation loss, validation metric) per task and setting the figure does not show
    (e.g. k), so that each panel holds one task's one quantity; a series is one setting's runs."""
    panels: dict[tuple[str, str], dict[str, dict[int, list[float]]]] = {}
    for curve in curves:
        column = curve.setting.column
        title = " ".join(part for part in (curve.setting.task, _rest(column, (*METHOD_KEYS, "lr"))) if part)
        name = column.only(*METHOD_KEYS, *_own_axes(column), "lr").name
        for row in curve.rows:
            loss = panels.setdefault((title, "validation loss"), {}).setdefault(name, {})
            loss.setdefault(row["step"], []).append(row["loss"])
            if row.get(curve.metric) is not None:  # a row without the metric is not drawn as 0
                scored = panels.setdefault((title, f"validation {curve.metric} ×100"), {}).setdefault(name, {})
                scored.setdefault(row["step"], []).append(100 * row[curve.metric])
    return panels


def plot_overfitting(curves: list[Any], path: Path) -> Path | None:
    """Fig. 5: validation loss and metric vs training step, a panel per task and quantity; a line
    per setting (colour: the method; style: its learning rate) through the mean over seeds, with
    a band of ± one std.

    curves: report.curves.Curve (a setting, its metric, and its metrics.jsonl validation rows)
    """
    curves = [c for c in curves if c.rows]
    if not curves:
        return None
    panels = overfitting_panels(curves)
    names = [name for series in panels.values() for name in series]
    colors = shades(names)
    # line style: the rank of the setting's learning rate among its method's rates
    rates: dict[str, list[float | None]] = {}
    for curve in curves:
        rates.setdefault(curve.setting.column.method or "", []).append(curve.setting.column.lr)
    style_of = {}
    for curve in curves:
        column = curve.setting.column
        own = sorted({lr for lr in rates[column.method or ""] if lr is not None})
        style_of[column.only(*METHOD_KEYS, *_own_axes(column), "lr").name] = (
            STYLES[own.index(column.lr) % len(STYLES)] if column.lr in own else "-"
        )
    fig, axes = panel_grid(len(panels), columns=2)
    for ax, ((title, quantity), series) in zip(axes, panels.items()):
        for name, points in series.items():
            steps = sorted(points)
            _band(ax, steps, [points[s] for s in steps], name, color=colors[name], linestyle=style_of[name])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel(quantity)
    return _save(fig, path, axes)


def plot_adapter_size(records: list[RunRecord], path: Path) -> Path | None:
    """The adapter-size table (Table 5) as bars: mean test metric ± std over seeds per size, fine-tuning beside;
    a panel per task and other setting.

    Drawn only when the study varies the adapter size."""
    records = _ok(records)
    if len({r.setting.column.adapter_size for r in records if r.setting.column.method == "adapter"}) < 2:
        return None
    panels = _panels(records, ("task", "lr", *METHOD_KEYS))  # a bar per method, size and rate
    methods = {r.setting.column.only(*METHOD_KEYS, *_own_axes(r.setting.column), "lr") for r in records}
    order = sorted(
        methods,
        key=lambda c: (
            c.method == "adapter",
            c.adapter_size if isinstance(c.adapter_size, int) else 0,
            c.lr or 0,
            c.name,
        ),
    )
    colors = shades([c.name for c in order])
    fig, axes = panel_grid(len(panels))
    for ax, (title, panel) in zip(axes, panels.items()):
        present = {_name(r.setting.column, "lr") for r in panel}
        names = [c.name for c in order if c.name in present]
        for i, name in enumerate(names):
            values = [100 * _test(r) for r in panel if _name(r.setting.column, "lr") == name]
            ax.bar(
                i,
                statistics.mean(values),
                0.7,
                yerr=statistics.stdev(values) if len(values) > 1 else 0,
                capsize=3,
                label=name,
                color=colors[name],
            )
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=7, rotation=30, ha="right")
        ax.set_ylabel(f"test {panel[0].result.metric or 'metric'} ×100")
        ax.set_title(title, fontsize=10)
    return _save(fig, path, axes)


def plot_rsa(observations: list[Observation], path: Path) -> Path | None:
    """Fig. 2: RSA with the base model per layer, one line per setting (mean ± std over seeds as a band)."""
    if not observations:
        return None
    series: dict[str, dict[int, list[float]]] = {}
    methods: dict[str, Method | None] = {}
    for o in observations:
        name = o.column.name
        methods[name] = o.column.method
        series.setdefault(name, {}).setdefault(o.row, []).append(
            cast(float, o.test)
        )  # an RSA observation always has its value
    colors = shades(list(series), methods.get)
    fig, axes = panel_grid(1, size=(6.0, 3.8))
    for i, (name, points) in enumerate(series.items()):
        layers = sorted(points)
        _band(
            axes[0],
            layers,
            [points[x] for x in layers],
            name,
            color=colors[name],
            linestyle=STYLES[i // 2 % len(STYLES)],
        )
    axes[0].set_xlabel("layer (0 = embeddings)")
    axes[0].set_ylabel("RSA similarity to the base model")
    return _save(fig, path, axes)
