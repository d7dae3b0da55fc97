"""`adapterlab export PACK --format merged|onnx --out DIR`: a trained task as something that runs
without adapterlab, checked against the pack's own logits before it is written.

- merged: the method folded into plain transformers weights (model.safetensors, config.json with
  the label names, the tokenizer), loaded by `AutoModelFor...Classification.from_pretrained(DIR)`.
  LoRA, LoHa and IA3 change the weights linearly, so they merge (PEFT's merge); a fine-tuned run
  is plain weights already. Houlsby adapters put a tanh between two projections (He et al. 2021
  §2): no change of the backbone's weights computes that, so they are refused.
- onnx: every pack (adapters included) as model.onnx (torch.onnx.export, dynamic batch and
  length), with config.json and the tokenizer beside it; checked with onnxruntime when installed.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from adapterlab.errors import AdapterlabError
from adapterlab.methods import get_method
from adapterlab.names import EXPORT_FORMATS
from adapterlab.runs import strict_json
from adapterlab.train.provenance import PROVENANCE_FILE
from adapterlab.use.load import LoadedTask, load_task

EXPORT_FILE = "export.json"  # what was exported from where, and how well it matched the pack
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17
TOLERANCE = 1e-4  # max |logit difference| an export may show against its pack on the probe batch


@dataclass(frozen=True)
class ExportResult:
    """path: the export folder; max_abs_diff: the largest |logit difference| between the export and
    the pack on the probe batch (None when onnxruntime is not installed to run an ONNX export)."""

    path: Path
    format: str
    task: str
    method: str
    max_abs_diff: float | None
    checked_with: str


def export_pack(source: str | Path, fmt: str, out: str | Path, model_path: str | None = None) -> ExportResult:
    """Export the run folder, pack or hf://OWNER/NAME pack `source` as `fmt` into the new folder
    `out`, written whole or not at all. Raises AdapterlabError, one line, for a format the method
    cannot take, an `out` that exists and is not empty, or an export that does not match the pack."""
    if fmt not in EXPORT_FORMATS:
        raise AdapterlabError(f"--format {fmt!r}: allowed: {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AdapterlabError(f"--out {out}: exists and is not empty; export into a new folder")
    task = load_task(source, model_path)
    if fmt == "merged" and not get_method(task.method).mergeable:
        raise AdapterlabError(
            f"{source}: {task.method} packs cannot be merged: Houlsby adapters put a nonlinearity between their two "
            "projections, so no change of the backbone's weights computes them; export --format onnx instead"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tmp.chmod(0o755)
        batch = probe_batch(task)
        with torch.inference_mode():
            expected = task.model(**batch).logits.float()
        if fmt == "merged":
            difference, checked = _write_merged(task, tmp, batch, expected), "transformers"
        else:
            difference, checked = _write_onnx(task, tmp, batch, expected)
        if difference is not None and not difference <= TOLERANCE:
            raise AdapterlabError(
                f"{source}: the {fmt} export differs from the pack by {difference:.2e} (max |logit difference|, "
                f"allowed {TOLERANCE:g}); nothing was written"
            )
        task.tokenizer.save_pretrained(str(tmp))
        provenance = (
            task.source / PROVENANCE_FILE
            if (task.source / PROVENANCE_FILE).is_file()
            else task.source / "pack" / PROVENANCE_FILE
        )
        if provenance.is_file():
            shutil.copy(provenance, tmp / PROVENANCE_FILE)
        record = {
            "format": fmt,
            "task": task.spec.name,
            "method": task.method,
            "labels": list(task.labels.names),
            "max_abs_logit_difference": difference,
            "checked_with": checked,
        }
        (tmp / EXPORT_FILE).write_text(strict_json(record))
        for file in tmp.iterdir():
            file.chmod(0o644)
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(out, fmt, task.spec.name, task.method, difference, checked)


def probe_batch(task: LoadedTask, rows: int = 3, length: int = 12) -> dict[str, torch.Tensor]:
    """A fixed batch of token ids for checking an export: ordinary tokens (no special ids) in
    every input the tokenizer makes, one row padded, a length unlike the one exported with."""
    generator = torch.Generator().manual_seed(0)
    special = set(task.tokenizer.all_special_ids)
    vocab = [i for i in range(min(task.model.config.vocab_size, len(task.tokenizer))) if i not in special]
    ids = torch.tensor(vocab)[torch.randint(0, len(vocab), (rows, length), generator=generator)]
    mask = torch.ones(rows, length, dtype=torch.long)
    mask[-1, length // 2 :] = 0
    ids[-1, length // 2 :] = task.tokenizer.pad_token_id
    batch = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in task.tokenizer.model_input_names and getattr(task.model.config, "type_vocab_size", 0):
        batch["token_type_ids"] = torch.zeros_like(ids)
    return batch


def _write_merged(task: LoadedTask, folder: Path, batch: dict, expected: torch.Tensor) -> float:
    """The method folded into the weights, saved as safetensors, loaded back by transformers alone."""
    import transformers

    model = copy.deepcopy(task.model)
    model = get_method(task.method).merged(model)
    model.save_pretrained(str(folder), safe_serialization=True)
    auto = (
        transformers.AutoModelForTokenClassification
        if task.spec.kind == "token"
        else transformers.AutoModelForSequenceClassification
    )
    reloaded = auto.from_pretrained(str(folder), use_safetensors=True, dtype=torch.float32).eval()
    with torch.inference_mode():
        return (reloaded(**batch).logits.float() - expected).abs().max().item()


class _Logits(torch.nn.Module):
    """The task model as a function of its inputs, by position, to its logits (what ONNX exports)."""

    def __init__(self, model, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs):
        return self.model(**dict(zip(self.names, inputs))).logits


def _write_onnx(task: LoadedTask, folder: Path, batch: dict, expected: torch.Tensor) -> tuple[float | None, str]:
    names = list(batch)
    wrapper = _Logits(
        task.model, names
    ).eval()  # eval: the exporter restores the wrapper's mode, and a fresh module trains
    example = probe_batch(task, rows=2, length=8)  # another shape than the check's, so the axes must really be dynamic
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch", 1: "sequence"} if task.spec.kind == "token" else {0: "batch"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(
                wrapper,
                tuple(example[n] for n in names),
                str(folder / ONNX_FILE),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
    except Exception as err:  # noqa: BLE001 - the exporter's errors are many; the user needs one line
        line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AdapterlabError(
            f"ONNX export of the {task.spec.name} {task.method} model failed: {type(err).__name__}: {line[:200]}"
        ) from None
    task.model.config.save_pretrained(str(folder))  # the label names (id2label) for whoever runs the graph
    try:
        import onnxruntime
    except ImportError:
        return None, "not checked (pip install onnxruntime)"
    session = onnxruntime.InferenceSession(str(folder / ONNX_FILE), providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {name: batch[name].numpy() for name in names})[0]
    return float(abs(torch.from_numpy(logits).float() - expected).max()), f"onnxruntime {onnxruntime.__version__}"
