"""What a run reads before its folder is touched: the task's splits, its labels, the backbone's
tokenizer and the length inputs are cut at (read_data), and the checks that the run's settings
and method fit that backbone (read_inputs). `study plan` reads the same data (study/batch_length.py)."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from adapterlab.backbone import resolve_backbone
from adapterlab.data.example import Splits
from adapterlab.data.features import LabelMap
from adapterlab.data.load import load_splits
from adapterlab.data.tasks import TaskSpec, get_task
from adapterlab.train.config import RunConfig
from adapterlab.train.method import check_method_fits
from adapterlab.train.model_setup import (
    check_backbone_weights,
    check_fits,
    effective_max_length,
    load_model_config,
    load_tokenizer,
)


@dataclass(frozen=True)
class RunInputs:
    """What a run reads and checks before its folder is touched: the task, its data, the backbone."""

    spec: TaskSpec
    splits: Splits
    labels: LabelMap
    model_path: str
    tokenizer: PreTrainedTokenizerBase
    max_length: int  # the requested length, capped at the backbone's position limit


def read_inputs(config: RunConfig) -> RunInputs:
    """The task's splits and the backbone, each checked against the settings (one-line errors)."""
    inputs = read_data(config)
    model_config = load_model_config(inputs.model_path)
    check_fits(config, model_config, inputs.tokenizer, inputs.model_path)
    check_method_fits(config, model_config, inputs.spec.kind)
    return inputs


def read_data(config: RunConfig) -> RunInputs:
    """The task's splits, its labels, the backbone's tokenizer and the length inputs are cut at:
    what the run reads, without checking that the method fits (read_inputs does)."""
    spec = get_task(config.task)
    splits = load_splits(
        spec,
        train=config.train,
        dev=config.dev,
        test=config.test,
        hub=config.hub,
        fmt=config.data_format,
        columns=config.columns,
        train_size=config.train_size,
        validation_size=config.validation_size,
        seed=config.seed if config.data_seed is None else config.data_seed,
        test_fraction=config.test_fraction,
        encoding=config.encoding,
    )
    labels = LabelMap(splits.labels)
    model_path = resolve_backbone(config.model)
    check_backbone_weights(model_path)
    model_config = load_model_config(model_path)
    tokenizer = load_tokenizer(model_path, model_config)
    max_length = effective_max_length(config.max_length, model_config, model_path)
    return RunInputs(spec, splits, labels, model_path, tokenizer, max_length)
