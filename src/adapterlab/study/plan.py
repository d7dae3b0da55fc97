"""`adapterlab study plan SPEC`: what a study will cost before it starts, on this machine.

For each distinct (backbone, method, batch size, max length) the probe times a few training
steps of that backbone's exact shapes with random weights (built from its config, so it works
offline for any local folder and for bert-base-uncased, roberta-base and xlm-roberta-large,
whose configs ship in specs/backbones/). Steps per run come from the spec: k (or the training
file's size, or the published size of the task's standard training set when the file is not
here), the batch size and the epochs. Evaluation is not timed: the estimate is a lower bound.
"""

from __future__ import annotations

import json
import math
import resource
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import transformers

from adapterlab.adapters.peft_methods import PEFT_METHODS, PeftSettings, add_peft, set_peft_trainable
from adapterlab.errors import AdapterlabError
from adapterlab.study.spec import PlannedRun, StudySpec

SHIPPED_CONFIGS = ("bert-base-uncased", "roberta-base", "xlm-roberta-large")
# Training-set sizes (examples) of the standard splits, for counting the steps of a spec whose
# training files are not on this machine (hub datasets, or files elsewhere). GLUE: the official
# train.tsv files; TAE: He et al. (2021) Table 8 (Gururangan et al. 2020); PAN-X English: XTREME's
# 20,000-sentence split; XNLI trains on MNLI.
PUBLISHED_TRAIN_SIZES = {"cola": 8551, "sst2": 67349, "mrpc": 3668, "qqp": 363846, "stsb": 5749, "mnli": 392702, "qnli": 104743,
                         "rte": 2490, "wnli": 635, "chemprot": 4169, "rct": 180040, "acl-arc": 1688, "sciie": 3219, "hyperpartisan": 515,
                         "ag": 115000, "helpfulness": 115251, "imdb": 20000, "panx": 20000, "xnli": 392702}


@dataclass(frozen=True)
class GroupCost:
    """The runs that share a probe: the same backbone, method, batch size and max length."""

    model: str
    method: str
    batch_size: int
    max_length: int
    runs: int
    steps_per_run: list[int]  # of each run
    seconds_per_step: float  # measured
    peak_rss_mb: float  # of this process after the probe: an upper bound for one run of the group

    @property
    def seconds(self) -> float:
        return sum(self.steps_per_run) * self.seconds_per_step


def backbone_config(model: str | None):
    """The config of a backbone: a local folder's, the embedded default's, or a shipped one."""
    from adapterlab.backbone import resolve_backbone

    name = str(model or "default")
    if name in SHIPPED_CONFIGS:
        values = json.loads(resources.files("adapterlab").joinpath("specs", "backbones", f"{name}.json").read_text())
        return transformers.AutoConfig.for_model(**values)
    path = resolve_backbone(model)
    if not Path(path).is_dir():
        raise AdapterlabError(f"model {name!r}: no local folder and no shipped config ({', '.join(SHIPPED_CONFIGS)}); "
                              "study plan needs the backbone's config")
    return transformers.AutoConfig.from_pretrained(path)


def steps_of(run: PlannedRun, sizes: dict) -> int:
    """Optimizer steps of one run (TAPT's too): ceil(examples / batch) x epochs."""
    config = run.config
    examples = config.train_size
    if examples is None:
        key = (config.task, config.train, config.dev, config.test, config.data_format, config.encoding)
        if key not in sizes:
            sizes[key] = _training_examples(config)
        examples = sizes[key]
    per_epoch = math.ceil(examples / config.batch_size)
    return per_epoch * config.epochs + (per_epoch * config.tapt_epochs if config.tapt else 0)


def _training_examples(config) -> int:
    from adapterlab.data.load import read_task_data
    from adapterlab.data.tasks import get_task

    if not config.train or not Path(config.train).exists():
        if config.task in PUBLISHED_TRAIN_SIZES:  # the standard split's size: the count of a run on the published data
            return PUBLISHED_TRAIN_SIZES[config.task]
        where = config.train or config.hub
        raise AdapterlabError(f"{where}: training data not here and {config.task!r} has no published size in study plan; "
                              "give train_size in the spec to count its steps")
    train, _, _, _ = read_task_data(get_task(config.task), config.train, config.dev, config.test, None, config.data_format,
                                    config.columns, config.encoding)
    return len(train)


def probe(model: str | None, method: str, batch_size: int, max_length: int, steps: int = 2) -> float:
    """Seconds per training step (forward, backward, AdamW) of this backbone's shapes, random weights."""
    import adapterlab as al

    config = backbone_config(model)
    config.num_labels = 2
    torch.manual_seed(0)
    network = transformers.AutoModelForSequenceClassification.from_config(config)
    if method in PEFT_METHODS:
        add_peft(network, PeftSettings(method))
        set_peft_trainable(network)
    else:
        if method == "adapter":
            al.add_adapters(network, al.AdapterConfig(size=64), name="probe")
        al.set_trainable(network, method)
    network.train()
    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], lr=1e-4)
    length = min(max_length, (getattr(config, "max_position_embeddings", max_length) or max_length) - 2)
    batch = {"input_ids": torch.randint(5, config.vocab_size, (batch_size, length)), "attention_mask": torch.ones(batch_size, length, dtype=torch.long)}
    labels = torch.randint(0, 2, (batch_size,))
    times = []
    for index in range(steps + 1):  # the first step warms up
        started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(network(**batch).logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index:
            times.append(time.perf_counter() - started)
    return sum(times) / len(times)


def plan_study(spec: StudySpec, probe_steps: int = 2, progress=None) -> list[GroupCost]:
    groups: dict[tuple, list[PlannedRun]] = {}
    for run in spec.runs:
        config = run.config
        groups.setdefault((str(config.model or "default"), config.method, config.batch_size, config.max_length), []).append(run)
    sizes: dict = {}
    costs = []
    for (model, method, batch_size, max_length), runs in groups.items():
        if progress:
            progress(f"probing {model} {method} batch {batch_size} x {max_length}")
        seconds = probe(None if model == "default" else model, method, batch_size, max_length, probe_steps)
        costs.append(GroupCost(model, method, batch_size, max_length, len(runs), [steps_of(r, sizes) for r in runs], seconds,
                               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return costs
