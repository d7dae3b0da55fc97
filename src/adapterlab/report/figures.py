"""The paper's figures as PNGs (matplotlib, no display): training-size curves (Fig. 3),
learning-rate box plots (Fig. 4), dev loss and metric vs steps (Fig. 5), adapter-size bars."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from adapterlab.report.tables import Observation  # noqa: E402
from adapterlab.runs import RunRecord  # noqa: E402
from adapterlab.setting import Column  # noqa: E402

COLORS = {"adapter": "#1f77b4", "finetune": "#d62728", "lora": "#2ca02c", "loha": "#9467bd", "ia3": "#ff7f0e"}
METHOD_KEYS = ("method", "adapter_size")


def _name(column: Column, keys: tuple[str, ...] = METHOD_KEYS) -> str:
    """The setting named by only these grid labels, e.g. "adapter m=64"."""
    return column.only(*keys).name


def _rest(column: Column, shown: tuple[str, ...]) -> str:
    """Every other grid label (seed aside), so that a panel or bar group never pools two settings
    a figure does not show, e.g. k=1000 and k=5000 in one learning-rate box."""
    return column.without(*shown).name


def _panels(records: list[RunRecord], shown: tuple[str, ...]) -> dict[str, list[RunRecord]]:
    panels: dict[str, list[RunRecord]] = {}
    for r in records:
        title = " ".join(part for part in (r.setting.task, _rest(r.setting.column, shown)) if part)
        panels.setdefault(title, []).append(r)
    return panels


def _ok(records: list[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.result.test_metric is not None]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_train_size(records: list[RunRecord], path: Path) -> Path | None:
    """Fig. 3: test metric vs number of training examples, mean ± std over seeds."""
    records = [r for r in _ok(records) if r.setting.column.train_size is not None]
    if not records:
        return None
    panels = _panels(records, ("task", "train_size", *METHOD_KEYS))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for ax, (title, panel) in zip(axes[0], panels.items()):
        series: dict[str, dict[int, list[float]]] = {}
        for r in panel:
            series.setdefault(_name(r.setting.column), {}).setdefault(r.setting.column.train_size, []).append(100 * r.result.test_metric)
        for name, points in series.items():
            xs = sorted(points)
            means = [statistics.mean(points[x]) for x in xs]
            stds = [statistics.stdev(points[x]) if len(points[x]) > 1 else 0 for x in xs]
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name, color=COLORS.get(name.split()[0]))
        ax.set_xscale("log")
        # Label the sizes that were run; log-scale minor ticks would print "3x10^2" over each other.
        sizes = sorted({r.setting.column.train_size for r in panel})
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(sizes)
        ax.set_xticklabels([f"{size:,}" for size in sizes], fontsize=8)
        ax.set_title(title)
        ax.set_xlabel("training examples")
        ax.set_ylabel(records[0].result.metric or "metric")
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_lr_boxes(records: list[RunRecord], path: Path) -> Path | None:
    """Fig. 4: distribution over runs of the test metric at each learning rate, per method."""
    records = [r for r in _ok(records) if r.setting.column.lr is not None]
    if not records:
        return None
    panels = _panels(records, ("task", "lr", *METHOD_KEYS))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, panel) in zip(axes[0], panels.items()):
        rates = sorted({r.setting.column.lr for r in panel})
        methods = list(dict.fromkeys(_name(r.setting.column) for r in panel))
        width = 0.8 / max(len(methods), 1)
        for i, method in enumerate(methods):
            data = [[100 * r.result.test_metric for r in panel if _name(r.setting.column) == method and r.setting.column.lr == lr] for lr in rates]
            positions = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(rates))]
            boxes = ax.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True)
            color = COLORS.get(method.split()[0], "#777777")
            for box in boxes["boxes"]:
                box.set_facecolor(color)
                box.set_alpha(0.6)
            ax.plot([], [], color=color, label=method, linewidth=6, alpha=0.6)
        ax.set_xticks(range(len(rates)))
        ax.set_xticklabels([f"{lr:g}" for lr in rates])
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"test {records[0].result.metric or 'metric'}")
        ax.set_title(title)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_overfitting(curves: list, path: Path) -> Path | None:
    """Fig. 5: validation loss and metric vs training step, mean over the seeds of each setting.

    curves: report.build.Curve (a setting, its metric, and its metrics.jsonl validation rows)
    """
    curves = [c for c in curves if c.rows]
    if not curves:
        return None
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    grouped: dict[str, dict[int, list[tuple[float, float]]]] = {}
    metrics: dict[str, str] = {}
    colors: dict[str, str | None] = {}
    families: dict[str, str] = {}
    for curve in curves:
        setting = curve.setting
        name = f"{setting.task} {setting.column.name}"
        metrics[name], colors[name] = curve.metric, COLORS.get(setting.column.method)
        families[name] = f"{setting.task} {_rest(setting.column, METHOD_KEYS)}"
        for row in curve.rows:
            grouped.setdefault(name, {}).setdefault(row["step"], []).append((row["loss"], row.get(curve.metric)))
    # Colour says the method; line style says the rest of the setting (task, k, lr, ...).
    family_order = list(dict.fromkeys(families.values()))
    styles = ["-", "--", ":", "-."]
    for name, points in grouped.items():
        steps = sorted(points)
        style = {"color": colors[name], "linestyle": styles[family_order.index(families[name]) % len(styles)]}
        loss_ax.plot(steps, [statistics.mean(p[0] for p in points[s]) for s in steps], label=name, **style)
        scored = [s for s in steps if any(p[1] is not None for p in points[s])]  # a row without the metric is not drawn as 0
        metric_ax.plot(scored, [100 * statistics.mean(p[1] for p in points[s] if p[1] is not None) for s in scored],
                       label=f"{name} ({metrics[name]})", **style)
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel("validation loss")
    metric_ax.set_xlabel("training step")
    metric_ax.set_ylabel("validation metric" if len(set(metrics.values())) > 1 else f"validation {next(iter(metrics.values()))}")
    loss_ax.legend(fontsize=7)
    metric_ax.legend(fontsize=7)
    return _save(fig, path)


def plot_adapter_size(records: list[RunRecord], path: Path) -> Path | None:
    """The adapter-size table (Table 5) as bars: mean test metric per size, fine-tuning beside.

    Drawn only when the study varies the adapter size; one bar group per task and other setting."""
    records = _ok(records)
    if len({r.setting.column.adapter_size for r in records if r.setting.column.method == "adapter"}) < 2:
        return None
    groups = _panels(records, ("task", *METHOD_KEYS))
    methods = {r.setting.column.only(*METHOD_KEYS) for r in records}
    names = [c.name for c in sorted(methods, key=lambda c: (c.method == "adapter", c.adapter_size if isinstance(c.adapter_size, int) else 0))]
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(groups) * len(names)), 3.6))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        means, stds = [], []
        for group in groups.values():
            values = [100 * r.result.test_metric for r in group if _name(r.setting.column) == name]
            means.append(statistics.mean(values) if values else float("nan"))
            stds.append(statistics.stdev(values) if len(values) > 1 else 0)
        ax.bar([j + (i - (len(names) - 1) / 2) * width for j in range(len(groups))], means, width, yerr=stds, capsize=2, label=name,
               color=COLORS.get(name) if name == "finetune" else None)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(list(groups), fontsize=8)
    ax.set_ylabel("test metric")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_rsa(observations: list[Observation], path: Path) -> Path | None:
    """Fig. 2: RSA with the base model per layer, one line per setting (mean ± std over seeds)."""
    if not observations:
        return None
    series: dict[str, dict[int, list[float]]] = {}
    methods: dict[str, str | None] = {}
    for o in observations:
        name = o.column.name
        methods[name] = o.column.method
        series.setdefault(name, {}).setdefault(o.row, []).append(o.test)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    styles = ["-", "--", ":", "-."]
    for i, (name, points) in enumerate(series.items()):
        layers = sorted(points)
        ax.errorbar(layers, [statistics.mean(points[x]) for x in layers], yerr=[statistics.stdev(points[x]) if len(points[x]) > 1 else 0 for x in layers],
                    marker="o", capsize=3, label=name, color=COLORS.get(methods[name]), linestyle=styles[i // 2 % len(styles)])
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("RSA similarity to the base model")
    ax.legend(fontsize=8)
    return _save(fig, path)
