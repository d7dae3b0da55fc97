"""adapterlab: Houlsby adapter tuning for pretrained encoders, and the study of when it beats fine-tuning."""

from adapterlab._version import __version__
from adapterlab.adapters.architectures import ARCHITECTURES, ArchitectureTable, register_architecture
from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.freezing import ParamCounts, count_parameters, parameter_roles, set_trainable
from adapterlab.adapters.injection import (
    activate,
    activate_per_example,
    adapter_names,
    add_adapters,
    deactivate,
    remove_adapters,
)
from adapterlab.adapters.io import PackInfo, SavedPack, load_adapter, read_pack_info, save_adapter
from adapterlab.errors import AdapterlabError
from adapterlab.train.fast_ops import fast_training_ops


def load_pack(source, model=None):
    """(model, tokenizer, labels) of a run folder, a task pack or hf://OWNER/NAME[@REVISION]: see
    adapterlab.use.load.load_pack."""
    from adapterlab.use.load import load_trained

    return load_trained(source, model)


__all__ = [
    "__version__",
    "ARCHITECTURES",
    "AdapterConfig",
    "AdapterlabError",
    "ArchitectureTable",
    "PackInfo",
    "ParamCounts",
    "SavedPack",
    "activate",
    "activate_per_example",
    "adapter_names",
    "add_adapters",
    "count_parameters",
    "deactivate",
    "fast_training_ops",
    "load_pack",
    "load_adapter",
    "parameter_roles",
    "read_pack_info",
    "register_architecture",
    "remove_adapters",
    "save_adapter",
    "set_trainable",
    "train",
]
