"""Every fixed set of names in adapterlab, defined once: a Literal type for annotations and the
tuple of its values (typing.get_args) for validation, argparse choices and error messages.

Readers are registered at run time (data/readers/registry.py READERS), so their names live there.
"""

from __future__ import annotations

from typing import Literal, get_args

# How a run trains, the built-in methods: adapters (Houlsby et al. 2019) on a frozen backbone,
# every weight, or one of PEFT's methods on a frozen backbone: LoRA (Hu et al. 2022), LoHa
# (Hyeon-Woo et al. 2022) or IA3 (Liu et al. 2022). Each is a registered object in
# adapterlab.methods, which says everything else about it; a method registered at run time is
# in that registry, not here.
Method = Literal["adapter", "finetune", "lora", "loha", "ia3"]
METHODS: tuple[str, ...] = get_args(Method)

# Accelerate's mixed precision; "auto" = bf16 on a GPU that has it, fp32 ("no") otherwise.
Precision = Literal["auto", "no", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

# Where TAPT's masked-LM head starts when the backbone ships none: warmed up on general text
# (train/mlm_head.py, cached per backbone) or a fresh random init.
TaptHead = Literal["warm", "fresh"]
TAPT_HEADS: tuple[str, ...] = get_args(TaptHead)

# Storage dtype of a task pack's tensors (cast back to the model's dtype on load).
PackDtype = Literal["float32", "float16", "bfloat16"]
PACK_DTYPES: tuple[str, ...] = get_args(PackDtype)

# AdapterConfig choices: the activation between the projections, the init, the sites per layer.
Nonlinearity = Literal["tanh", "relu", "gelu", "swish"]
NONLINEARITIES: tuple[str, ...] = get_args(Nonlinearity)
Init = Literal["near_identity", "zero_up"]
INITS: tuple[str, ...] = get_args(Init)
Placement = Literal["both", "attention", "ffn"]
PLACEMENTS: tuple[str, ...] = get_args(Placement)

# A run's result.json status. "failed" is not complete: resuming runs it again.
CompleteStatus = Literal["ok", "diverged"]
COMPLETE_STATUSES: tuple[str, ...] = get_args(CompleteStatus)
Status = Literal[CompleteStatus, "failed"]
STATUSES: tuple[str, ...] = get_args(Status)
# A run's state in a study folder: its status, or not finished, or finished with other settings.
RunState = Literal[Status, "running", "pending", "changed"]
RUN_STATES: tuple[str, ...] = get_args(RunState)

# Data protocol: the paper's low-resource one (k-sample, validation from the rest of train,
# the original dev set as test) or plain train/dev/test files.
Protocol = Literal["low-resource", "plain"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)

# What a task predicts; "mlm" is task-adaptive pretraining's masked-token objective.
TaskKind = Literal["classification", "regression", "token", "mlm"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)

# What `adapterlab export` writes: plain transformers weights with the method folded in (methods
# that are linear in the weights: LoRA, LoHa, IA3, fine-tuning), or an ONNX graph (every pack).
ExportFormat = Literal["merged", "onnx"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
