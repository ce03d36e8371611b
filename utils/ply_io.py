"""Gaussian PLY files in the 3DGS / Gaussian Grouping layout.

One `vertex` element, float32 properties in this order (3DGS's, then GG's identity channels):
`x y z nx ny nz f_dc_0..2 f_rest_0..R-1 opacity scale_0..2 rot_0..3 obj_dc_0..D-1`.
Colour coefficients are stored channel-major as 3DGS does: `f_rest_{c*(K-1)+k}` is SH
coefficient k+1 of channel c. Values are the raw (pre-activation) parameters. Normals are
written as zeros and ignored on reading. Properties are read by name, so their order in a
file does not matter.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
from plyfile import PlyData, PlyElement, PlyParseError

from utils.atomic_io import atomic_path


class GaussianPlyArrays(NamedTuple):
    """Raw Gaussian parameters as float32 arrays, one row per Gaussian."""
    xyz: np.ndarray                # (N, 3)
    f_dc: np.ndarray               # (N, 3)
    f_rest: np.ndarray             # (N, R), R = 3 * ((sh_degree + 1)^2 - 1), channel-major
    opacity: np.ndarray            # (N, 1) logit
    scale: np.ndarray              # (N, 3) log
    rotation: np.ndarray           # (N, 4) quaternion (w, x, y, z)
    obj_dc: Optional[np.ndarray]   # (N, D) identity encoding; None when the file has none


def _numbered(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def _column_names(num_rest: int, num_objects: int) -> dict[str, list[str]]:
    """PLY property names of each `GaussianPlyArrays` field, in file order."""
    return {
        "xyz": ["x", "y", "z"],
        "f_dc": _numbered("f_dc_", 3),
        "f_rest": _numbered("f_rest_", num_rest),
        "opacity": ["opacity"],
        "scale": _numbered("scale_", 3),
        "rotation": _numbered("rot_", 4),
        "obj_dc": _numbered("obj_dc_", num_objects),
    }


def write_gaussian_ply(path: str, arrays: GaussianPlyArrays) -> None:
    """Write `arrays` to `path` atomically, binary little-endian; `obj_dc=None` writes a plain
    3DGS PLY (no identity properties)."""
    n = arrays.xyz.shape[0]
    names = _column_names(arrays.f_rest.shape[1], 0 if arrays.obj_dc is None else arrays.obj_dc.shape[1])
    columns: list[tuple[str, np.ndarray]] = [("x", arrays.xyz[:, 0]), ("y", arrays.xyz[:, 1]),
                                             ("z", arrays.xyz[:, 2])]
    columns += [(name, np.zeros(n, dtype=np.float32)) for name in ("nx", "ny", "nz")]
    for field in GaussianPlyArrays._fields[1:]:
        values = getattr(arrays, field)
        if values is None:  # obj_dc of a plain 3DGS file
            continue
        if values.shape != (n, len(names[field])):
            raise ValueError(f"{path}: '{field}' has shape {values.shape}, "
                             f"expected ({n}, {len(names[field])})")
        columns += [(name, values[:, i]) for i, name in enumerate(names[field])]
    vertices = np.empty(n, dtype=[(name, "f4") for name, _ in columns])
    for name, values in columns:
        vertices[name] = values

    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(vertices, "vertex")], byte_order="<").write(tmp)


def read_gaussian_ply(path: str, num_rest: int, num_objects: int) -> GaussianPlyArrays:
    """Read a 3DGS, Gaussian Grouping or GradiSeg PLY. `num_rest` is the expected number of
    `f_rest_*` properties, `num_objects` of `obj_dc_*`; a file with no `obj_dc_*` at all (plain
    3DGS) gives `obj_dc=None`. Raises ValueError naming the file and the problem."""
    try:
        ply = PlyData.read(path)
    except (PlyParseError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable PLY file ({e})") from e
    if "vertex" not in [element.name for element in ply.elements]:
        raise ValueError(f"{path}: PLY has no 'vertex' element")
    vertex = ply["vertex"]
    present = {prop.name for prop in vertex.properties}

    num_found_rest = sum(name.startswith("f_rest_") for name in present)
    if num_found_rest != num_rest:
        raise ValueError(f"{path}: has {num_found_rest} 'f_rest_*' properties, the model expects "
                         f"{num_rest} (SH degree mismatch)")
    num_found_objects = sum(name.startswith("obj_dc_") for name in present)
    if num_found_objects not in (0, num_objects):
        raise ValueError(f"{path}: has {num_found_objects} 'obj_dc_*' properties, the model expects "
                         f"{num_objects} (num_objects mismatch)")

    names = _column_names(num_rest, num_objects if num_found_objects else 0)
    fields = {field: _read_columns(path, vertex, present, columns) for field, columns in names.items()}
    if num_found_objects == 0:
        fields["obj_dc"] = None
    return GaussianPlyArrays(**fields)


def _read_columns(path: str, vertex: PlyElement, present: set[str], columns: list[str]) -> np.ndarray:
    """Properties `columns` of `vertex` as one float32 (N, len(columns)) array."""
    missing = [name for name in columns if name not in present]
    if missing:
        raise ValueError(f"{path}: PLY vertex element lacks property '{missing[0]}'")
    values = np.empty((vertex.count, len(columns)), dtype=np.float32)
    for i, name in enumerate(columns):
        values[:, i] = vertex[name]
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: non-finite values in properties {columns[0]}..{columns[-1]}")
    return values


class GaussianPlyLayout(NamedTuple):
    """What a Gaussian PLY's header says about its content."""
    num_gaussians: int
    sh_degree: int     # 0..3, from the number of f_rest_* properties
    num_objects: int   # number of obj_dc_* properties (0 for a plain 3DGS file)


def read_gaussian_ply_layout(path: str) -> GaussianPlyLayout:
    """The SH degree and identity dimension of a 3DGS, gsplat, Gaussian Grouping or GradiSeg
    PLY, read from its header (no vertex data is parsed), so any of them can be loaded without
    knowing how it was trained. Raises ValueError naming the file when it is not a Gaussian PLY
    (no `vertex` element, a 3DGS property missing, or an f_rest_* count of no SH degree)."""
    elements = _header_elements(path)
    if "vertex" not in elements:
        raise ValueError(f"{path}: PLY has no 'vertex' element")
    count, properties = elements["vertex"]
    present = set(properties)
    required = [name for names in _column_names(0, 0).values() for name in names]
    missing = [name for name in required if name not in present]
    if missing:
        raise ValueError(f"{path}: not a 3D Gaussian Splatting PLY (vertex property '{missing[0]}' "
                         f"missing; expected x, y, z, f_dc_0..2, opacity, scale_0..2, rot_0..3)")
    num_rest = sum(name.startswith("f_rest_") for name in present)
    degrees = {3 * ((degree + 1) ** 2 - 1): degree for degree in range(4)}
    if num_rest not in degrees:
        raise ValueError(f"{path}: has {num_rest} 'f_rest_*' properties, which is no SH degree "
                         f"0..3 (0, 9, 24 or 45)")
    num_objects = sum(name.startswith("obj_dc_") for name in present)
    return GaussianPlyLayout(count, degrees[num_rest], num_objects)


MAX_HEADER_LINES = 10_000


def _header_elements(path: str) -> dict[str, tuple[int, list[str]]]:
    """element name -> (count, property names) from a PLY header; ValueError naming the file."""
    elements: dict[str, tuple[int, list[str]]] = {}
    with open(path, "rb") as fh:
        if fh.readline().strip() != b"ply":
            raise ValueError(f"{path}: not a PLY file (it does not start with 'ply')")
        current = None
        for _ in range(MAX_HEADER_LINES):
            line = fh.readline()
            if not line:
                break
            words = line.decode("ascii", errors="replace").split()
            if words[:1] == ["end_header"]:
                return elements
            if words[:1] == ["element"] and len(words) == 3 and words[2].isdigit():
                current = words[1]
                elements[current] = (int(words[2]), [])
            elif words[:1] == ["property"] and current is not None and len(words) >= 3:
                elements[current][1].append(words[-1])
    raise ValueError(f"{path}: not a readable PLY file (no end_header line)")
