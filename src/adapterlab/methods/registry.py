"""The registered methods, by name: `register` adds one, `get_method` finds one. The built-in
methods register themselves when adapterlab.methods is imported."""

from __future__ import annotations

from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.methods.base import Method, Model

METHODS: dict[str, Method] = {}  # in registration order: the built-in ones first


def register(method: Method, replace: bool = False) -> Method:
    """Add `method` to the registry (replace=True: over an earlier one of its name). Returns it."""
    if not isinstance(method, Method):
        raise AdapterlabError(f"register: expected an adapterlab.methods.Method, got {type(method).__name__}")
    if method.name in METHODS and not replace:
        raise AdapterlabError(
            f"register: a method named {method.name!r} is already registered; pass replace=True to replace it"
        )
    METHODS[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a registered method (a test's toy method)."""
    METHODS.pop(name, None)


def method_names() -> tuple[str, ...]:
    return tuple(METHODS)


def get_method(name: str) -> Method:
    """The registered method `name`; an unknown name is one AdapterlabError naming the known ones."""
    method = METHODS.get(name)
    if method is None:
        raise AdapterlabError(f"method={name!r}: allowed: {', '.join(METHODS)}")
    return method


def find_method(name: str | None) -> Method | None:
    """The registered method `name`, or None (a name from an old folder, or none)."""
    return METHODS.get(name) if isinstance(name, str) else None


def method_words(name: str | None) -> str:
    """How a report's prose names a method: "fine-tuning", "LoRA"; an unknown name as itself."""
    method = find_method(name)
    return method.words if method else str(name)


def method_of_pack(path: str | Path) -> Method | None:
    """The method whose pack the folder `path` is, or None."""
    return next((m for m in METHODS.values() if m.is_pack(Path(path))), None)


def own_axes_of(name: str | None) -> tuple[str, ...]:
    method = find_method(name)
    return method.own_axes if method else ()


def methods_with_axis(axis: str) -> tuple[str, ...]:
    """The registered methods whose own setting `axis` is (lora_r: lora, loha)."""
    return tuple(m.name for m in METHODS.values() if axis in m.own_axes)


def methods_with_settings(block: str) -> tuple[str, ...]:
    """The registered methods whose own settings block (RunConfig field) `block` is (adapter: adapter)."""
    return tuple(m.name for m in METHODS.values() if m.nested_settings == block)


def unused_by(name: str) -> set[str]:
    """The settings that are other methods' own and not this method's: a run of it refuses them."""
    own = set(own_axes_of(name))
    return {axis for m in METHODS.values() for axis in m.own_axes} - own


def load_pack(model: Model, path: str | Path, with_head: bool = True, merge: bool = False) -> Model:
    """Load the pack at `path`, of whichever registered method made it, onto `model` (a task
    model, or a bare encoder with with_head=False); merge: fold the method into plain weights
    where it can (analyses that read plain encoder weights). Returns the model. Errors (another
    backbone, not a pack) are AdapterlabError, one line."""
    folder = Path(path)
    if not folder.is_dir():
        raise AdapterlabError(f"task pack {folder}: folder does not exist")
    method = method_of_pack(folder)
    if method is None:
        raise AdapterlabError(f"task pack {folder}: not a pack of any method ({', '.join(METHODS)})")
    return method.load_pack(model, folder, with_head=with_head, merge=merge)
