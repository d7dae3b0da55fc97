"""The paper's figures as PNGs (matplotlib, no display): training-size curves (Fig. 3),
learning-rate box plots (Fig. 4), dev loss and metric vs steps (Fig. 5), adapter-size bars."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"adapter": "#1f77b4", "finetune": "#d62728"}


def _tasks(records: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["labels"]["task"] for r in records))


def _series_name(labels: dict) -> str:
    name = labels["method"]
    if labels["method"] == "adapter" and "adapter_size" in labels:
        name += f" m={labels['adapter_size']}"
    return name


def _ok(records: list[dict]) -> list[dict]:
    return [r for r in records if r["result"].get("test_metric") is not None]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_train_size(records: list[dict], path: Path) -> Path | None:
    """Fig. 3: test metric vs number of training examples, mean ± std over seeds."""
    records = [r for r in _ok(records) if r["labels"].get("train_size") is not None]
    if not records:
        return None
    tasks = _tasks(records)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        series: dict[str, dict[int, list[float]]] = {}
        for r in records:
            if r["labels"]["task"] == task:
                series.setdefault(_series_name(r["labels"]), {}).setdefault(r["labels"]["train_size"], []).append(100 * r["result"]["test_metric"])
        for name, points in series.items():
            xs = sorted(points)
            means = [statistics.mean(points[x]) for x in xs]
            stds = [statistics.stdev(points[x]) if len(points[x]) > 1 else 0 for x in xs]
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name, color=COLORS.get(name.split()[0]))
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("training examples")
        ax.set_ylabel(records[0]["result"].get("metric", "metric"))
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_lr_boxes(records: list[dict], path: Path) -> Path | None:
    """Fig. 4: distribution over runs of the test metric at each learning rate, per method."""
    records = [r for r in _ok(records) if "lr" in r["labels"]]
    if not records:
        return None
    tasks = _tasks(records)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rates = sorted({r["labels"]["lr"] for r in records if r["labels"]["task"] == task})
        methods = list(dict.fromkeys(r["labels"]["method"] for r in records if r["labels"]["task"] == task))
        width = 0.8 / max(len(methods), 1)
        for i, method in enumerate(methods):
            data = [[100 * r["result"]["test_metric"] for r in records if r["labels"]["task"] == task and r["labels"]["method"] == method and r["labels"]["lr"] == lr] for lr in rates]
            positions = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(rates))]
            boxes = ax.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True)
            for box in boxes["boxes"]:
                box.set_facecolor(COLORS.get(method, "#777777"))
                box.set_alpha(0.6)
            ax.plot([], [], color=COLORS.get(method, "#777777"), label=method, linewidth=6, alpha=0.6)
        ax.set_xticks(range(len(rates)))
        ax.set_xticklabels([f"{lr:g}" for lr in rates])
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"test {records[0]['result'].get('metric', 'metric')}")
        ax.set_title(task)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_overfitting(curves: list[dict], path: Path) -> Path | None:
    """Fig. 5: validation loss and metric vs training step, mean over seeds, per method.

    curves: {"labels": ..., "rows": [metrics.jsonl rows with at == "step" or "epoch"], "metric": name}
    """
    curves = [c for c in curves if c["rows"]]
    if not curves:
        return None
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    grouped: dict[str, dict[int, list[tuple[float, float]]]] = {}
    metrics: dict[str, str] = {}
    for curve in curves:
        name = f"{curve['labels']['task']} {_series_name(curve['labels'])}"
        metrics[name] = curve["metric"]
        for row in curve["rows"]:
            grouped.setdefault(name, {}).setdefault(row["step"], []).append((row["loss"], row.get(curve["metric"])))
    tasks = list(dict.fromkeys(name.split()[0] for name in grouped))
    styles = ["-", "--", ":", "-."]
    for name, points in grouped.items():
        steps = sorted(points)
        style = {"color": COLORS.get(name.split()[1]), "linestyle": styles[tasks.index(name.split()[0]) % len(styles)]}
        loss_ax.plot(steps, [statistics.mean(p[0] for p in points[s]) for s in steps], label=name, **style)
        metric_ax.plot(steps, [100 * statistics.mean(p[1] for p in points[s] if p[1] is not None) for s in steps],
                       label=f"{name} ({metrics[name]})", **style)
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel("validation loss")
    metric_ax.set_xlabel("training step")
    metric_ax.set_ylabel("validation metric" if len(set(metrics.values())) > 1 else f"validation {next(iter(metrics.values()))}")
    loss_ax.legend(fontsize=8)
    metric_ax.legend(fontsize=8)
    return _save(fig, path)


def plot_adapter_size(records: list[dict], path: Path) -> Path | None:
    """The adapter-size table (Table 5) as bars: mean test metric per size, fine-tuning beside."""
    records = _ok(records)
    if not any(r["labels"]["method"] == "adapter" for r in records):
        return None
    tasks = _tasks(records)
    names = sorted({_series_name(r["labels"]) for r in records}, key=lambda n: (n.startswith("adapter"), int(n.split("=")[-1]) if "=" in n else 0))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(tasks) * len(names) / 2), 3.6))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        means, stds = [], []
        for task in tasks:
            values = [100 * r["result"]["test_metric"] for r in records if r["labels"]["task"] == task and _series_name(r["labels"]) == name]
            means.append(statistics.mean(values) if values else 0)
            stds.append(statistics.stdev(values) if len(values) > 1 else 0)
        ax.bar([j + (i - (len(names) - 1) / 2) * width for j in range(len(tasks))], means, width, yerr=stds, capsize=2, label=name,
               color=COLORS.get(name) if name == "finetune" else None)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels(tasks)
    ax.set_ylabel("test metric")
    ax.legend(fontsize=8)
    return _save(fig, path)
