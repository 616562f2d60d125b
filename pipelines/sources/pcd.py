"""Reader for PCD point clouds (the format Open3D writes), ascii and binary encodings."""

from __future__ import annotations

import numpy as np

_PCD_TYPES = {
    ("F", 4): "f4",
    ("F", 8): "f8",
    ("U", 1): "u1",
    ("U", 2): "u2",
    ("U", 4): "u4",
    ("I", 1): "i1",
    ("I", 2): "i2",
    ("I", 4): "i4",
}


def parse_pcd(data: bytes, name: str = "pcd") -> dict[str, np.ndarray]:
    """Decode a PCD file into its fields.

    Returns:
        ``points`` (P, 3) float32, and where present ``normals`` (P, 3) float32 and
        ``colors`` (P, 3) uint8 (from a packed ``rgb``/``rgba`` field).

    Raises:
        ValueError: malformed header, truncated or malformed data, unsupported encoding
            (``binary_compressed``); the message starts with ``name``.
    """
    header: dict[str, list[str]] = {}
    offset = 0
    while True:
        end = data.find(b"\n", offset)
        if end < 0:
            raise ValueError(f"{name}: PCD header ends before DATA")
        line = data[offset:end].decode("ascii", "replace").strip()
        offset = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            break
    try:
        fields = header["FIELDS"]
        sizes = [int(v) for v in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(v) for v in header.get("COUNT", ["1"] * len(fields))]
        num_points = int(header["POINTS"][0])
        if num_points < 0:
            raise ValueError(f"POINTS {num_points}")
        encoding = header["DATA"][0].lower()
        dtype = np.dtype(
            [
                (f, _PCD_TYPES[(t, s)], (c,))
                for f, s, t, c in zip(fields, sizes, types, counts, strict=True)
            ]
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{name}: malformed PCD header ({exc})") from exc
    if not {"x", "y", "z"} <= set(fields):
        raise ValueError(f"{name}: PCD has no x y z fields (fields: {' '.join(fields)})")
    if encoding == "ascii":
        records = _ascii_records(data[offset:], dtype, num_points, name)
    elif encoding == "binary":
        available = len(data) - offset
        if available < num_points * dtype.itemsize:
            raise ValueError(
                f"{name}: PCD data is truncated ({available} bytes for {num_points} points"
                f" of {dtype.itemsize} bytes)"
            )
        records = np.frombuffer(data, dtype=dtype, count=num_points, offset=offset)
    else:
        raise ValueError(f"{name}: unsupported PCD encoding {encoding!r}")

    def column_group(*names: str) -> np.ndarray:
        return np.concatenate([records[n].astype(np.float32) for n in names], axis=1)

    cloud = {"points": column_group("x", "y", "z")}
    if {"normal_x", "normal_y", "normal_z"} <= set(fields):
        cloud["normals"] = column_group("normal_x", "normal_y", "normal_z")
    packed = next((f for f in ("rgb", "rgba") if f in fields), None)
    if packed and records.dtype[packed].base.itemsize != 4:
        raise ValueError(f"{name}: packed {packed} field must have 4 bytes per point")
    if packed:
        as_uint = np.ascontiguousarray(records[packed][:, 0]).view(np.uint32)
        cloud["colors"] = np.stack(
            [(as_uint >> 16) & 0xFF, (as_uint >> 8) & 0xFF, as_uint & 0xFF], axis=1
        ).astype(np.uint8)
    return cloud


def _ascii_records(text: bytes, dtype: np.dtype, num_points: int, name: str) -> np.ndarray:
    """The rows of an ascii PCD body as records of ``dtype`` (one field per header field)."""
    try:
        table = np.loadtxt(text.decode("ascii").splitlines(), ndmin=2)
    except ValueError as exc:  # also bytes that are not ascii
        raise ValueError(f"{name}: malformed ascii PCD data ({exc})") from exc
    width = sum(dtype[field].shape[0] for field in dtype.names)
    if table.shape != (num_points, width) and not (num_points == 0 and table.size == 0):
        raise ValueError(
            f"{name}: ascii PCD data has {table.shape[0]} rows of {table.shape[1]} values,"
            f" the header promises {num_points} of {width}"
        )
    records = np.zeros(num_points, dtype=dtype)
    column = 0
    for field in dtype.names:
        count = dtype[field].shape[0]
        records[field] = table[:, column : column + count].astype(dtype[field].base)
        column += count
    return records


def format_pcd(
    points: np.ndarray, normals: np.ndarray | None = None, colors: np.ndarray | None = None
) -> bytes:
    """Encode a point cloud as a binary PCD file (fields as Open3D writes them).

    Args:
        points: (P, 3) float positions.
        normals: (P, 3) float normals, or None.
        colors: (P, 3) uint8 RGB, or None (stored as a packed float ``rgb``).
    """
    fields = [("x", points[:, 0]), ("y", points[:, 1]), ("z", points[:, 2])]
    if normals is not None:
        fields += [(f"normal_{a}", normals[:, i]) for i, a in enumerate("xyz")]
    if colors is not None:
        c = colors.astype(np.uint32)
        fields.append(("rgb", ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).view(np.float32)))
    records = np.zeros(len(points), dtype=[(name, "f4") for name, _ in fields])
    for name, values in fields:
        records[name] = values
    names = " ".join(name for name, _ in fields)
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {names}\nSIZE {' '.join('4' * len(fields))}\n"
        f"TYPE {' '.join('F' * len(fields))}\nCOUNT {' '.join('1' * len(fields))}\n"
        f"WIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
        f"POINTS {len(points)}\nDATA binary\n"
    )
    return header.encode("ascii") + records.tobytes()
