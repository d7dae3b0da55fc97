"""AdapterConfig: the settings of one bottleneck adapter, validated when it is built."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from adapterlab.errors import AdapterlabError, reject_unknown
from adapterlab.names import INITS, NONLINEARITIES, PLACEMENTS


@dataclass(frozen=True)
class AdapterConfig:
    """Houlsby bottleneck adapter settings (He et al. 2021, eq. 1: h' = f2(act(f1(h))) + h).

    size:         bottleneck width m of f1: d->m and f2: m->d (the paper uses 64, 128, 256).
    nonlinearity: act between the projections; the paper uses tanh.
    init:         "near_identity" draws both projections from a truncated normal with
                  `init_std` (adapter-bert's 1e-3), so the adapter starts close to the
                  identity; "zero_up" makes the up-projection exactly zero, so the adapter
                  starts as the exact identity.
    init_std:     std of the truncated normal used for the weights above.
    placement:    "both" puts one adapter after the attention output projection and one after
                  the feed-forward output in every layer (Houlsby); "attention"/"ffn" keep one.
    dropout:      dropout on the adapter's bottleneck output, before its skip connection.
    skip_layers:  AdapterDrop-style: no adapters in the lowest n layers, so no backward pass
                  runs through them. 0 is the paper's method; anything else changes it.
    """

    size: int = 64
    nonlinearity: str = "tanh"
    init: str = "near_identity"
    init_std: float = 1e-3
    placement: str = "both"
    dropout: float = 0.0
    skip_layers: int = 0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise AdapterlabError("\n".join(problems))

    def problems(self) -> list[str]:
        """Every invalid field, one line each."""
        found = []
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            found.append(
                f"AdapterConfig.size={self.size!r}: must be a positive integer (the paper uses 64, 128 or 256)"
            )
        for name, allowed in (("nonlinearity", NONLINEARITIES), ("init", INITS), ("placement", PLACEMENTS)):
            if getattr(self, name) not in allowed:
                found.append(f"AdapterConfig.{name}={getattr(self, name)!r}: allowed values are {', '.join(allowed)}")
        if not _is_number(self.init_std) or not self.init_std > 0:
            found.append(f"AdapterConfig.init_std={self.init_std!r}: must be a finite number > 0")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            found.append(f"AdapterConfig.dropout={self.dropout!r}: must be a number in [0, 1)")
        if isinstance(self.skip_layers, bool) or not isinstance(self.skip_layers, int) or self.skip_layers < 0:
            found.append(f"AdapterConfig.skip_layers={self.skip_layers!r}: must be an integer >= 0")
        return found

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "AdapterConfig") -> AdapterConfig:
        reject_unknown(values, {field.name for field in dataclasses.fields(cls)}, source, "adapter setting")
        return cls(**values)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
