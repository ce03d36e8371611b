"""utils.memory: the allocator setting applies on glibc (the Linux machines we run on)."""
import platform

import pytest

from utils.memory import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_applies_once_per_process():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True   # cached: the second call changes nothing
