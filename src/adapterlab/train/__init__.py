"""The explicit training loop (Accelerate), metrics, checkpoint selection, TAPT and run folders.

The package is also the Python training API: `adapterlab.train(config, train=..., dev=..., out=...)`
calls adapterlab.train.api.train (the package is callable, so `adapterlab.train.run` and the other
modules stay importable under the same name)."""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, config, **kwargs):
        from adapterlab.train.api import train

        return train(config, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
