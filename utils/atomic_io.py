"""Write files so that a crash never leaves a half-written one in place (and read JSON with
errors that name the file)."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path next to `path`; on success it replaces `path` in one rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path: str, what: str) -> Any:
    """Parse the JSON file `path`; FileNotFoundError / ValueError name it and what it is for."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {path} is not valid JSON ({err})") from None


def write_text_atomic(path: str, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write(text)


def write_json_atomic(path: str, content: Any, indent: int | None = 2, sort_keys: bool = False) -> None:
    """Write `content` as JSON (plus a final newline) to `path` atomically."""
    write_text_atomic(path, json.dumps(content, indent=indent, sort_keys=sort_keys) + "\n")


def torch_save_atomic(obj, path: str) -> None:
    import torch  # here, so that torch-free tools (eval_lerf_mask.py) can use atomic_path
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def torch_load_checked(path: str, what: str):
    """`torch.load` of tensors and plain containers only (no code runs); errors name the file."""
    import torch
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated/foreign files
        raise ValueError(f"{what} {path} cannot be read ({type(err).__name__}: {err})") from None
