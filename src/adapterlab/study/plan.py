"""`adapterlab study plan SPEC [SPEC ...]`: what studies will cost before they start, on this machine.

For each distinct setting (backbone, method and its size, batch, accumulation,
length, checkpointing, precision) a probe times a few optimizer steps of that backbone's exact
shapes with random weights, in a fresh process that also reports the peak memory
(study/probe.py). The shapes come from the backbone's config, so this works offline for any
local folder and for bert-base-uncased, roberta-base and xlm-roberta-large, whose configs ship
in specs/backbones/. Steps per run come from the spec: k (or the training file's size, or the
published size of the task's standard training set when the file is not here), the batch size
and the epochs (TAPT's too). Evaluation is estimated from the probe (forward passes over the
validation set at each evaluation and the test set once, their sizes read from the data when it is
here, at FORWARD_SHARE of a training example's cost), plus each run's start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from adapterlab.backbone import backbone_label
from adapterlab.errors import AdapterlabError
from adapterlab.methods import find_method
from adapterlab.study.backbone_configs import SHIPPED_CONFIGS, backbone_config  # noqa: F401  (also imported from here)
from adapterlab.study.probe import ProbeResult, probe_key_with_length, run_probe
from adapterlab.study.spec import PlannedRun, StudySpec

# Training-set sizes (examples) of the standard splits, for counting the steps of a spec whose
# training files are not on this machine (hub datasets, or files elsewhere). GLUE: the official
# train.tsv files; TAE: He et al. (2021) Table 8 (Gururangan et al. 2020); PAN-X English: XTREME's
# 20,000-sentence split; UD-POS English: XTREME's 21,253 sentences; XNLI trains on MNLI.
PUBLISHED_TRAIN_SIZES = {
    "cola": 8551,
    "sst2": 67349,
    "mrpc": 3668,
    "qqp": 363846,
    "stsb": 5749,
    "mnli": 392702,
    "qnli": 104743,
    "rte": 2490,
    "wnli": 635,
    "chemprot": 4169,
    "rct": 180040,
    "acl-arc": 1688,
    "sciie": 3219,
    "hyperpartisan": 515,
    "ag": 115000,
    "helpfulness": 115251,
    "imdb": 20000,
    "panx": 20000,
    "udpos": 21253,
    "xnli": 392702,
}


STARTUP_SECONDS = 10.0  # a run's child process: imports, data, model load (measured 3-8 s on 2 CPU cores)
FORWARD_SHARE = 0.35  # an evaluation example costs about this share of a training example (forward only, no backward)


def evaluation_seconds(config, steps: int, seconds_per_step: float, sizes: tuple[int, int] | None = None) -> float:
    """The evaluations of one run: validation at every epoch (and every eval_every steps), then
    the test set once, forward passes only. sizes: (validation, test) examples, from the data
    when it is here (split_sizes); otherwise both are counted as validation_size."""
    validation, test = sizes or (config.validation_size, config.validation_size)
    evaluations = config.epochs + (steps // config.eval_every if config.eval_every else 0)
    return (evaluations * validation + test) * seconds_per_step / config.batch_size * FORWARD_SHARE


def split_sizes(config, cache: dict) -> tuple[int, int] | None:
    """(validation, test) examples of a run, from its data as the run will split it (the same
    load_splits), or None when its files are not here (hub data, another machine's paths)."""
    from adapterlab.data.load import load_splits
    from adapterlab.data.tasks import get_task

    key = (
        config.task,
        config.train,
        config.dev,
        config.test,
        config.data_format,
        config.encoding,
        config.train_size,
        config.validation_size,
        config.test_fraction,
        tuple(sorted(config.columns.items())),
    )
    if key not in cache:
        cache[key] = None
        if config.train and Path(config.train).exists() and not config.hub:
            try:
                splits = load_splits(
                    get_task(config.task),
                    train=config.train,
                    dev=config.dev,
                    test=config.test,
                    fmt=config.data_format,
                    columns=config.columns,
                    train_size=config.train_size,
                    validation_size=config.validation_size,
                    seed=config.seed if config.data_seed is None else config.data_seed,
                    test_fraction=config.test_fraction,
                    encoding=config.encoding,
                )
                cache[key] = (len(splits.validation), len(splits.test))
            except AdapterlabError:
                pass  # the run will say what is wrong; the plan counts validation_size
    return cache[key]


@dataclass(frozen=True)
class GroupCost:
    """The runs that share a probe: the same backbone, method settings, batch,
    accumulation, length, checkpointing and precision, and the same length of their padded batches
    (study/probe.py's probe_key_with_length)."""

    model: str
    setting: str  # the method and what else sets the step's cost, e.g. "adapter m=64, accum 2"
    batch_size: int
    max_length: int
    runs: int
    steps_per_run: list[int]  # optimizer steps of each run (TAPT's included)
    probe: ProbeResult
    dirs: tuple[str, ...] = ()  # each run's folder in the study, in the order of steps_per_run
    eval_seconds: tuple[float, ...] = ()  # each run's evaluations and start-up (evaluation_seconds + STARTUP_SECONDS)
    batch_length: int | None = None  # tokens its training batches are padded to on average (None: max_length)

    @property
    def method(self) -> str:
        return self.setting.split()[0].rstrip(",")

    @property
    def seconds(self) -> float:
        return sum(self.run_seconds())

    def run_seconds(self) -> list[float]:
        """Each run's estimate: its steps at the probe's rate, its evaluations and its start-up."""
        extra = self.eval_seconds or (0.0,) * len(self.steps_per_run)
        return [steps * self.probe.seconds_per_step + other for steps, other in zip(self.steps_per_run, extra)]


def describe_setting(config) -> str:
    """The method and the settings that change a step's cost, in words."""
    method = find_method(config.method)
    parts = [method.cost_words(config) if method else config.method]
    if config.grad_accum > 1:
        parts.append(f"accum {config.grad_accum}")
    if config.gradient_checkpointing:
        parts.append("checkpointing")
    if config.mixed_precision not in ("auto", "no"):
        parts.append(config.mixed_precision)
    if config.tapt:
        parts.append("with TAPT")
    return ", ".join(parts)


def steps_of(run: PlannedRun, sizes: dict) -> int:
    """Optimizer steps of one run (TAPT's too): ceil(examples / batch) x epochs."""
    return steps_of_config(run.config, sizes)


def steps_of_config(config, sizes: dict) -> int:
    """steps_of for a RunConfig; `sizes` caches the training sets' sizes across calls."""
    examples = config.train_size
    if examples is None:
        key = (config.task, config.train, config.dev, config.test, config.data_format, config.encoding)
        if key not in sizes:
            sizes[key] = _training_examples(config)
        examples = sizes[key]
    per_epoch = math.ceil(examples / config.batch_size)
    return per_epoch * config.epochs + (per_epoch * config.tapt_epochs if config.tapt else 0)


def steps_of_spec(spec: StudySpec) -> list[int]:
    """Optimizer steps of every run of `spec`; raises AdapterlabError when a run's count is unknown."""
    sizes: dict = {}
    return [steps_of(run, sizes) for run in spec.runs]


def _training_examples(config) -> int:
    from adapterlab.data.load import read_task_data
    from adapterlab.data.tasks import get_task

    if not config.train or not Path(config.train).exists():
        if config.task in PUBLISHED_TRAIN_SIZES:  # the standard split's size: the count of a run on the published data
            return PUBLISHED_TRAIN_SIZES[config.task]
        where = config.train or config.hub
        raise AdapterlabError(
            f"{where}: training data not here and {config.task!r} has no published size in study plan; "
            "give train_size in the spec to count its steps"
        )
    train, _, _, _ = read_task_data(
        get_task(config.task),
        config.train,
        config.dev,
        config.test,
        None,
        config.data_format,
        config.columns,
        config.encoding,
    )
    return len(train)


def plan_study(spec: StudySpec, probe_steps: int = 2, progress=None, probes: dict | None = None) -> list[GroupCost]:
    """The cost of every run of `spec`, one probe per distinct setting. `probes` (probe_key_with_length ->
    ProbeResult) is shared by the caller across specs, so a setting is probed once per plan."""
    from adapterlab.data.tasks import get_task

    probes = {} if probes is None else probes
    groups: dict[tuple, list[PlannedRun]] = {}
    for run in spec.runs:
        groups.setdefault((probe_key_with_length(run.config), describe_setting(run.config)), []).append(run)
    sizes: dict = {}
    split_cache: dict = {}
    steps = {
        group: [steps_of(r, sizes) for r in runs] for group, runs in groups.items()
    }  # a missing size fails before any probe
    costs = []
    for (key, setting), runs in groups.items():
        config = runs[0].config
        if key not in probes:
            if progress:
                shown = f"{key[-1]} (padded, on average)" if key[-1] else str(config.max_length)
                progress(f"probing {backbone_label(config.model)} {setting}, batch {config.batch_size} x {shown}")
            probes[key] = run_probe(config, get_task(config.task).kind, probe_steps, key[-1])
        per_step = probes[key].seconds_per_step
        extra = tuple(
            STARTUP_SECONDS + evaluation_seconds(r.config, n, per_step, split_sizes(r.config, split_cache))
            for r, n in zip(runs, steps[key, setting])
        )
        costs.append(
            GroupCost(
                backbone_label(config.model),
                setting,
                config.batch_size,
                config.max_length,
                len(runs),
                steps[key, setting],
                probes[key],
                tuple(r.relative_dir for r in runs),
                extra,
                key[-1],
            )
        )
    return costs
