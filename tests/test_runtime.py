import platform
import sys

from adapterlab.runtime import keep_freed_memory


def test_keep_freed_memory_applies_on_glibc_and_is_a_no_op_elsewhere():
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is on_glibc
