"""How problems with input data (scene folders, images, masks, camera models) are reported.

Errors raise `DataError` with the offending file in the message. Recoverable problems
that would otherwise repeat for every view (a mask resized, a 3-channel mask) warn once
per run through `warn_once`.
"""
from __future__ import annotations

import functools
import os
import sys
import warnings
from typing import Callable


class DataError(ValueError):
    """Input data is missing or malformed; the message names the file and the problem."""


class DataWarning(UserWarning):
    """Input data was accepted after an automatic fix (resize, channel pick, random init)."""


_warned_keys: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Emit `message` as a DataWarning the first time `key` is seen in this process."""
    if key in _warned_keys:
        return
    _warned_keys.add(key)
    warnings.warn(message, DataWarning, stacklevel=3)


def reset_warn_once() -> None:
    """Forget which warnings were shown (tests use this to observe 'once per run')."""
    _warned_keys.clear()


class DeviceError(ValueError):
    """The requested compute device does not exist here; the message is one line saying why."""


def exits_cleanly_on(*extra: type[BaseException]) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate an entry point's `main`: the failures a user can cause (bad input, configs or
    devices: ValueError and its subclasses; files and folders: OSError; a missing optional
    package: ImportError; and the `extra` types) become one `<script>: error: ...` line on stderr
    and exit status 1, never a traceback. Anything else is a bug and keeps its traceback."""
    caught = (ValueError, OSError, ImportError, *extra)

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        script = os.path.basename(getattr(sys.modules.get(main.__module__), "__file__", None) or main.__module__)

        @functools.wraps(main)
        def wrapper(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except caught as err:
                print(f"{script}: error: {err}", file=sys.stderr)
                return 1
        return wrapper
    return decorate
