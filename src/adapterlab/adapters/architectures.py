"""Per-architecture table of where the two adapters of each transformer layer go.

No modeling code is copied: a table names submodules of the Hugging Face model, and the
injector wraps them. A user can register a table for an architecture that is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapterlab.errors import AdapterlabError


@dataclass(frozen=True)
class ArchitectureTable:
    """Paths of the modules that adapters wrap, all relative to the base encoder.

    layers:           the ModuleList of transformer layers, e.g. "encoder.layer".
    attention_output: inside one layer, the module that ends the self-attention sublayer
                      (after its output projection and dropout, before residual + LayerNorm).
    ffn_output:       inside one layer, the module that ends the feed-forward sublayer.
    """

    layers: str
    attention_output: str
    ffn_output: str


# BERT-style layers end each sublayer with `dense -> dropout -> LayerNorm(h + residual)`, so the
# dropout module is where the adapter goes. DistilBERT's attention has no dropout after its
# output projection, so the projection `out_lin` itself is wrapped there.
_BERT_STYLE = ArchitectureTable(
    layers="encoder.layer", attention_output="attention.output.dropout", ffn_output="output.dropout"
)

ARCHITECTURES: dict[str, ArchitectureTable] = {
    "bert": _BERT_STYLE,
    "roberta": _BERT_STYLE,
    "xlm-roberta": _BERT_STYLE,
    "electra": _BERT_STYLE,
    "deberta-v2": _BERT_STYLE,
    "distilbert": ArchitectureTable(
        layers="transformer.layer", attention_output="attention.out_lin", ffn_output="ffn.dropout"
    ),
}


def register_architecture(model_type: str, table: ArchitectureTable) -> None:
    """Make `add_adapters` support every model whose config.model_type is `model_type`."""
    if not isinstance(table, ArchitectureTable):
        raise AdapterlabError(
            f"register_architecture({model_type!r}): table must be an adapterlab.ArchitectureTable, got {type(table).__name__}"
        )
    ARCHITECTURES[model_type] = table


def resolve_table(model_type: str, table: ArchitectureTable | None) -> ArchitectureTable:
    if table is not None:
        return table
    if model_type in ARCHITECTURES:
        return ARCHITECTURES[model_type]
    raise AdapterlabError(
        f"model_type {model_type!r} is not supported out of the box (supported: {', '.join(sorted(ARCHITECTURES))}); "
        "pass table=adapterlab.ArchitectureTable(layers=..., attention_output=..., ffn_output=...) to add_adapters "
        "or call adapterlab.register_architecture"
    )
