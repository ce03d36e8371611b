"""How problems with input data (scene folders, images, masks, camera models) are reported.

Errors raise `DataError` with the offending file in the message. Recoverable problems
that would otherwise repeat for every view (a mask resized, a 3-channel mask) warn once
per run through `warn_once`.
"""
from __future__ import annotations

import warnings


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
