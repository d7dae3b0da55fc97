import sys
from pathlib import Path

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
