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
        ValueError: malformed header, unsupported encoding (``binary_compressed``).
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
        encoding = header["DATA"][0].lower()
        dtype = np.dtype(
            [
                (f, _PCD_TYPES[(t, s)], (c,))
                for f, s, t, c in zip(fields, sizes, types, counts, strict=True)
            ]
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{name}: malformed PCD header ({exc})") from exc
    if encoding == "ascii":
        table = np.loadtxt(data[offset:].decode().splitlines(), ndmin=2)
        records = np.zeros(num_points, dtype=dtype)
        column = 0
        for field, count in zip(fields, counts, strict=True):
            records[field] = table[:, column : column + count].astype(dtype[field].base)
            column += count
    elif encoding == "binary":
        records = np.frombuffer(data, dtype=dtype, count=num_points, offset=offset)
    else:
        raise ValueError(f"{name}: unsupported PCD encoding {encoding!r}")

    def column_group(*names: str) -> np.ndarray:
        return np.concatenate([records[n].astype(np.float32) for n in names], axis=1)

    cloud = {"points": column_group("x", "y", "z")}
    if {"normal_x", "normal_y", "normal_z"} <= set(fields):
        cloud["normals"] = column_group("normal_x", "normal_y", "normal_z")
    packed = next((f for f in ("rgb", "rgba") if f in fields), None)
    if packed:
        as_uint = np.ascontiguousarray(records[packed][:, 0]).view(np.uint32)
        cloud["colors"] = np.stack(
            [(as_uint >> 16) & 0xFF, (as_uint >> 8) & 0xFF, as_uint & 0xFF], axis=1
        ).astype(np.uint8)
    return cloud


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
