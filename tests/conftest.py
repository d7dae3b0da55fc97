import os
import sys
from pathlib import Path

# One intra-op thread for torch, here and in the processes the tests start (they inherit it):
# the tests' tensors are tiny (hidden 32), and a second thread's synchronization costs more than it
# gives (tests/train/test_train_cli.py and tests/compare/test_compare.py: 58 s against 68 s, idle 2
# cores). Set before torch is first imported; a value of the caller's own is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# the tests mirror src/ in folders; their shared helpers (tiny, studyworld) stay here in tests/, and
# the compare tests take the fake trainer of policy/test_policy.py: both importable by module name
sys.path.insert(0, str(Path(__file__).parent / "policy"))
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """A tiny backbone and toy SST-2 files, shared by the study and report tests."""
    from studyworld import make_tiny_world

    return make_tiny_world(tmp_path_factory)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """adapterlab's cache (the warmed-up MLM heads of TAPT) in a temp folder, never ~/.cache."""
    import os

    os.environ["ADAPTERLAB_CACHE"] = str(tmp_path_factory.mktemp("adapterlab-cache"))
    yield
