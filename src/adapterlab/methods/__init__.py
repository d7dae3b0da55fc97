"""Training methods, one registered object each (base.Method): adapter (Houlsby), finetune, and
PEFT's lora, loha and ia3. Importing the package registers the built-in ones.

Adding a method is one step: subclass Method (what it adds, saves and loads), and
`register(MyMethod(name="...", ...))`; train, study grids, packs, load, predict and the report
read it from the registry."""

from adapterlab.methods import adapter, finetune, peft  # noqa: E402,F401  the built-in methods register themselves
from adapterlab.methods.base import Method, Model, PackLabels, RunSettings, TaptOutcome, shape_model
from adapterlab.methods.registry import (
    METHODS,
    find_method,
    get_method,
    load_pack,
    method_names,
    method_of_pack,
    method_words,
    methods_with_axis,
    methods_with_settings,
    own_axes_of,
    register,
    unregister,
    unused_by,
)

__all__ = [
    "METHODS",
    "Method",
    "Model",
    "PackLabels",
    "RunSettings",
    "TaptOutcome",
    "find_method",
    "get_method",
    "load_pack",
    "method_names",
    "method_of_pack",
    "method_words",
    "methods_with_axis",
    "methods_with_settings",
    "own_axes_of",
    "register",
    "shape_model",
    "unregister",
    "unused_by",
]
