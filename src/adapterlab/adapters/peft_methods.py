"""PEFT's methods (LoRA, LoHa, IA3) in adapterlab's harness, under the paper's freeze policy (issue #17).

The PEFT library injects each method's weights into the encoder's linear layers; everything else
is adapterlab's own harness. As for the Houlsby adapters (He et al. 2021 §2), the task head
(classifier, and BERT's pooler) and, by default, every LayerNorm train, so adapters, these
methods and fine-tuning differ only in what they add to the encoder.

- lora (Hu et al. 2022, eq. 3): `W x + (alpha / r) B A x`, A: r x d_in, B: d_out x r, B = 0 at start.
- loha (Hyeon-Woo et al. 2022, FedPara, eq. 4; PEFT's LyCORIS port): the update is the Hadamard
  product of two rank-r products, `(alpha / r) (B1 A1) ∘ (B2 A2)`; one factor starts at zero.
- ia3 (Liu et al. 2022, T-Few §3.3): learned vectors scale the keys, the values and the
  feed-forward block's inner activations (`l_k ∘ k`, `l_v ∘ v`, `l_ff ∘ γ(W1 x)`), ones at start.

Every method starts as the identity, so the model's outputs are the bare backbone's until
training moves it. Its packs are peft_packs.py's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from torch import nn

from adapterlab.adapters.structure import (
    INJECTED_ATTR,
    InjectedWeights,
    base_model_of,
    head_paths,
    layernorm_paths,
    model_type_of,
)
from adapterlab.errors import AdapterlabError

PEFT_INSTALL = "pip install 'adapterlab[peft]'"
STATE_ATTR = "adapterlab_peft"  # set by add_peft: the method's settings
PEFT_METHODS = ("lora", "loha", "ia3")
RANKED = ("lora", "loha")  # the methods with a rank r and a scale alpha
# PEFT's parameter names for the weights it adds, per method: lora_A / lora_B, hada_w1_a ..., ia3_l.
MARKS = {"lora": "lora_", "loha": "hada_", "ia3": "ia3_l"}

# The modules each method adapts by default, per model_type. A target is a module name or the end
# of one as a regular expression, matched at a dot (`value` matches `encoder.layer.0.attention.
# self.value`). LoRA and LoHa: query and value, as in Hu et al. (2022) §4.2 and PEFT's defaults.
# IA3: keys, values and the feed-forward block's output projection, whose input IA3 scales
# (T-Few §3.3); `layer\.\d+\.output\.dense` names that projection and not the attention output's.
RANK_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "value"),
    "roberta": ("query", "value"),
    "xlm-roberta": ("query", "value"),
    "electra": ("query", "value"),
    "deberta-v2": ("query_proj", "value_proj"),
    "distilbert": ("q_lin", "v_lin"),
}
_BERT_FFN_OUT = r"layer\.\d+\.output\.dense"
IA3_FEEDFORWARD: dict[str, tuple[str, ...]] = {
    "bert": (_BERT_FFN_OUT,),
    "roberta": (_BERT_FFN_OUT,),
    "xlm-roberta": (_BERT_FFN_OUT,),
    "electra": (_BERT_FFN_OUT,),
    "deberta-v2": (_BERT_FFN_OUT,),
    "distilbert": (r"ffn\.lin2",),
}
IA3_TARGETS: dict[str, tuple[str, ...]] = {
    **{kind: ("key", "value", *IA3_FEEDFORWARD[kind]) for kind in ("bert", "roberta", "xlm-roberta", "electra")},
    "deberta-v2": ("key_proj", "value_proj", *IA3_FEEDFORWARD["deberta-v2"]),
    "distilbert": ("k_lin", "v_lin", *IA3_FEEDFORWARD["distilbert"]),
}
DEFAULT_TARGETS = {"lora": RANK_TARGETS, "loha": RANK_TARGETS, "ia3": IA3_TARGETS}


@dataclass(frozen=True)
class PeftSettings:
    """method: lora, loha or ia3. r: rank (lora, loha); alpha: the update is scaled by alpha / r
    (lora, loha); dropout: on LoRA's input (lora only); targets: modules to adapt (None: the
    method's default for the architecture); feedforward: which targets IA3 scales at their input
    (None: the architecture's feed-forward output projection); layernorm: whether the encoder's
    LayerNorms train (the paper's policy: yes)."""

    method: str = "lora"
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] | None = None
    layernorm: bool = True
    feedforward: tuple[str, ...] | None = None

    def problems(self) -> list[str]:
        found = []
        if self.method not in PEFT_METHODS:
            return [f"method={self.method!r}: PEFT methods are {', '.join(PEFT_METHODS)}"]
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            found.append(f"lora_r={self.r!r}: must be an integer >= 1")
        if (
            not isinstance(self.alpha, (int, float))
            or isinstance(self.alpha, bool)
            or not math.isfinite(self.alpha)
            or self.alpha <= 0
        ):
            found.append(f"lora_alpha={self.alpha!r}: must be a number > 0")
        if not isinstance(self.dropout, (int, float)) or not math.isfinite(self.dropout) or not 0 <= self.dropout < 1:
            found.append(f"lora_dropout={self.dropout!r}: must be in [0, 1)")
        elif self.dropout and self.method != "lora":
            found.append(
                f"lora_dropout={self.dropout!r}: LoRA's input dropout; method {self.method} has none (leave it at 0)"
            )
        for name in ("targets", "feedforward"):
            value = getattr(self, name)
            if value is not None and (not value or not all(isinstance(t, str) and t for t in value)):
                found.append(
                    f"{'lora_targets' if name == 'targets' else 'ia3_feedforward'}={value!r}: must name one or more modules, e.g. query,value"
                )
            elif value is not None:
                bad = [t for t in value if not _compiles(t)]
                if bad:
                    found.append(
                        f"{'lora_targets' if name == 'targets' else 'ia3_feedforward'}: {bad[0]!r} is not a module name or regular expression"
                    )
        if self.feedforward is not None and self.method != "ia3":
            found.append(f"ia3_feedforward={','.join(self.feedforward)!r}: only method ia3 scales feed-forward inputs")
        return found


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def require_peft() -> ModuleType:
    try:
        import peft
    except ImportError:
        raise AdapterlabError(
            f"the PEFT methods ({', '.join(PEFT_METHODS)}) need the peft library: {PEFT_INSTALL}"
        ) from None
    return peft


def targets_of(model: nn.Module, settings: PeftSettings) -> tuple[str, ...]:
    """The target patterns of a run: the settings' own, or the method's default for the architecture."""
    if settings.targets:
        return tuple(settings.targets)
    model_type = model_type_of(model)
    table = DEFAULT_TARGETS[settings.method]
    if model_type not in table:
        raise AdapterlabError(
            f"{settings.method} has no default target modules for model_type {model_type!r} (known: {', '.join(sorted(table))}); "
            "name them with --lora-targets, e.g. query,value"
        )
    return table[model_type]


def feedforward_of(model: nn.Module, settings: PeftSettings) -> tuple[str, ...]:
    """IA3's feed-forward targets (scaled at their input): the settings' own, or the architecture's."""
    if settings.feedforward is not None:
        return tuple(settings.feedforward)
    if settings.targets:  # the user named the targets: none is feed-forward unless named too
        return ()
    return IA3_FEEDFORWARD.get(model_type_of(model), ())


def _matches(pattern: str, name: str) -> bool:
    return re.fullmatch(rf"(?:.*\.)?(?:{pattern})", name) is not None


def resolve_targets(
    encoder: nn.Module, patterns: tuple[str, ...], method: str, exclude: tuple[str, ...] = ()
) -> list[str]:
    """The encoder's module names (relative to it) that `patterns` select, outside `exclude` (the
    pooler, which trains whole as part of the head). Raises AdapterlabError naming a pattern that
    selects nothing."""
    every = [name for name, _ in encoder.named_modules() if name]
    names = [name for name in every if not any(name == x or name.startswith(x + ".") for x in exclude)]
    chosen: list[str] = []
    for pattern in patterns:
        hits = [name for name in names if _matches(pattern, name)]
        if not hits and any(_matches(pattern, name) for name in every):
            raise AdapterlabError(
                f"{method} target {pattern!r} names only modules of the head ({', '.join(exclude)}), which trains whole "
                "and is never wrapped; name encoder modules, e.g. query,value"
            )
        if not hits:
            raise AdapterlabError(
                f"{method} target module {pattern!r} not found in {type(encoder).__name__} "
                f"(linear layers there: {', '.join(sorted(_linear_names(encoder)))})"
            )
        chosen += [h for h in hits if h not in chosen]
    return chosen


# Any: peft ships no type hints, so its config classes are untyped
def _peft_config(peft: ModuleType, settings: PeftSettings, targets: list[str], feedforward: list[str]) -> Any:
    if settings.method == "lora":
        return peft.LoraConfig(
            r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=targets, bias="none"
        )
    if settings.method == "loha":
        return peft.LoHaConfig(r=settings.r, alpha=settings.alpha, target_modules=targets)
    return peft.IA3Config(target_modules=targets, feedforward_modules=feedforward)


def add_peft(model: nn.Module, settings: PeftSettings) -> None:
    """Inject a PEFT method into the encoder of `model` (in place; the head stays outside it). Every
    method starts as the identity, so the outputs are unchanged until training moves it. Raises
    AdapterlabError when peft is missing, the settings are invalid, or a target is not in the encoder."""
    peft = require_peft()
    problems = settings.problems()
    if problems:
        raise AdapterlabError(problems[0])
    if getattr(model, STATE_ATTR, None) is not None:
        raise AdapterlabError(f"add_peft: this model already has {getattr(model, STATE_ATTR).method}")
    base_path, encoder = base_model_of(model)
    heads = tuple(p[len(base_path) + 1 :] if base_path else p for p in head_paths(model) if p.startswith(base_path))
    patterns = targets_of(model, settings)
    targets = resolve_targets(encoder, patterns, settings.method, exclude=heads)
    feedforward = []
    if settings.method == "ia3":
        wanted = feedforward_of(model, settings)
        feedforward = [n for n in targets if any(_matches(p, n) for p in wanted)]
        outside = [p for p in wanted if not any(_matches(p, n) for n in targets)]
        if (
            outside
        ):  # PEFT scales feed-forward modules among the targets only; one outside them would be dropped silently
            raise AdapterlabError(
                f"ia3_feedforward {outside[0]!r} matches none of the targets ({', '.join(patterns)}); "
                "name it among --lora-targets too"
            )
    try:
        peft.inject_adapter_in_model(_peft_config(peft, settings, targets, feedforward), encoder)
    except (
        ValueError,
        TypeError,
    ) as err:  # e.g. a LayerNorm named as a target: these methods adapt linear (and a few other) layers
        reason = " ".join(str(err).split())  # PEFT's message can hold a module's multi-line repr
        raise AdapterlabError(
            f"{settings.method} cannot adapt {', '.join(patterns)}: {reason[:160]}{'…' if len(reason) > 160 else ''}"
        ) from None
    recorded = None if settings.method != "ia3" else tuple(feedforward_of(model, settings))
    setattr(
        model,
        STATE_ATTR,
        PeftSettings(
            settings.method, settings.r, settings.alpha, settings.dropout, patterns, settings.layernorm, recorded
        ),
    )
    setattr(model, INJECTED_ATTR, InjectedWeights(settings.method, (MARKS[settings.method],)))


def _linear_names(module: nn.Module) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, nn.Linear) and name}


def peft_settings(model: nn.Module) -> PeftSettings | None:
    return getattr(model, STATE_ATTR, None)


def is_peft_parameter(name: str) -> bool:
    return any(mark in name for mark in MARKS.values())


def set_peft_trainable(model: nn.Module) -> None:
    """The method's weights, the task head and (settings.layernorm) the LayerNorms train; all else is frozen."""
    settings = peft_settings(model)
    if settings is None:
        raise AdapterlabError("set_peft_trainable: the model has no PEFT method; call add_peft first")
    for name, param in model.named_parameters():
        param.requires_grad_(is_peft_parameter(name))
    for path in head_paths(model) + (layernorm_paths(model) if settings.layernorm else []):
        for param in model.get_submodule(path).parameters():
            param.requires_grad_(True)


def merge_peft(model: nn.Module) -> nn.Module:
    """Fold the method's update into the target weights and remove its modules (for analyses such
    as RSA that read plain encoder weights); the outputs stay the same up to rounding."""
    require_peft()
    from peft.tuners.tuners_utils import BaseTunerLayer

    _, encoder = base_model_of(model)
    for name, module in list(encoder.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = encoder.get_submodule(parent_name) if parent_name else encoder
            setattr(parent, child, module.get_base_layer())
    if hasattr(encoder, "peft_config"):
        del encoder.peft_config
    setattr(model, STATE_ATTR, None)
    setattr(model, INJECTED_ATTR, None)
    return model
