"""Pictures of one shape, as PIL images: what a person looks at before training on it.

    from schemas.reader import ShardReader
    from featurizers.previews import shape_previews
    pictures = shape_previews(ShardReader("output/features")[0])
    pictures["parts"]        # points coloured by part, with a legend of part names
    pictures["views_seen"]   # points coloured by how many views saw them (red: none)
    pictures["dino_pca"]     # a 3-component PCA of `dino` as RGB (also `partfield_pca`)

A shape is a dict as ``schemas.reader.ShardReader`` yields it: ``points`` (N, 3) in the
normalized frame (the unit cube, +y up), ``point_part`` (N,), ``parts`` (dicts with
``name``), and the feature columns it has. The points are drawn as splats with the
project's renderer (``featurizers.rendering``, headless EGL), shaded by their normals, from
one camera ``elevation_deg`` above the equator and ``azimuth_deg`` around +y (0: looking
along -z, +x to the right), framing the points' bounding sphere.

Colours of a PCA are comparable across shapes when one ``FeaturePca`` (``fit_pca`` on
samples of every shape) colours them all; ``shape_previews`` fits one on the shape alone
when none is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from featurizers.cameras import orbit_rig
from featurizers.shapes import UNLABELED, PointCloud, ShapeRecord

#: Side of a point picture in pixels.
PICTURE_SIZE = 256
#: Part colours, RGB; part i gets ``PART_PALETTE[i % len(PART_PALETTE)]``. Neighbours
#: differ in hue, so the first parts of a shape are easy to tell apart.
PART_PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (127, 127, 127),
    (174, 199, 232),
    (255, 187, 120),
    (152, 223, 138),
    (255, 152, 150),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (219, 219, 141),
    (158, 218, 229),
    (57, 59, 121),
)
#: Colour of unlabeled points (``point_part`` -1).
UNLABELED_COLOR = (210, 210, 210)
#: Colour of points no view saw (``views_seen`` 0).
UNSEEN_COLOR = (228, 26, 28)
#: Anchors of the ``views_seen`` ramp (dark blue -> green -> yellow), evenly spaced.
_RAMP = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)])
_BACKGROUND = (255, 255, 255)
_LEGEND_WIDTH = 180
_LEGEND_ROW = 18


@dataclass(frozen=True)
class FeaturePca:
    """A 3-component PCA of one feature column, and the range that maps it to RGB.

    Attributes:
        column: the feature column (``dino``, ``partfield``).
        mean: (D,) float32 mean of the fitted rows.
        components: (3, D) float32 unit principal axes (zero rows when D < 3 or the rows
            span fewer dimensions), each signed so its largest loading is positive.
        low, high: (3,) float32 1st and 99th percentiles of the fitted rows' projections;
            ``colors`` maps them to 0 and 255.
    """

    column: str
    mean: np.ndarray
    components: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def project(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, 3) float32 coordinates on the principal axes."""
        centered = np.asarray(features, dtype=np.float32) - self.mean
        return centered @ self.components.T

    def colors(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, 3) uint8 RGB (component k is channel k, clipped)."""
        span = np.maximum(self.high - self.low, 1e-12)
        scaled = (self.project(features) - self.low) / span
        return np.round(255 * np.clip(scaled, 0.0, 1.0)).astype(np.uint8)


def feature_sample(features: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Up to ``count`` rows of (N, D) ``features`` without replacement, in row order,
    chosen by ``seed`` (a shape's sample for ``fit_pca``); float32."""
    features = np.asarray(features, dtype=np.float32)
    if len(features) <= count:
        return features
    chosen = np.random.default_rng(seed).choice(len(features), size=count, replace=False)
    return features[np.sort(chosen)]


def fit_pca(column: str, samples: Sequence[np.ndarray]) -> FeaturePca:
    """One PCA for a feature column, fitted on the rows of every sample together.

    Args:
        column: the column's name.
        samples: (n_i, D) arrays (``feature_sample`` of each shape), in a fixed order.

    Returns:
        The PCA; deterministic for the same samples in the same order.
    """
    rows = np.concatenate([np.asarray(s, dtype=np.float64) for s in samples])
    if rows.ndim != 2 or len(rows) == 0:
        raise ValueError(f"{column}: a PCA needs (n, D) rows, got shape {rows.shape}")
    mean = rows.mean(axis=0)
    centered = rows - mean
    values, vectors = np.linalg.eigh(centered.T @ centered)  # ascending eigenvalues
    width = rows.shape[1]
    components = np.zeros((3, width))
    for k in range(min(3, width)):
        if values[-1 - k] > 1e-12 * max(values[-1], 1e-30):
            axis = vectors[:, -1 - k]
            components[k] = axis if axis[np.argmax(np.abs(axis))] > 0 else -axis
    projected = centered @ components.T
    low, high = np.percentile(projected, [1.0, 99.0], axis=0)
    return FeaturePca(
        column,
        mean.astype(np.float32),
        components.astype(np.float32),
        low.astype(np.float32),
        high.astype(np.float32),
    )


def part_color_table(num_parts: int) -> np.ndarray:
    """(num_parts + 1, 3) uint8: row i is part i's colour, the last row the unlabeled one
    (so ``table[point_part]`` colours -1 as unlabeled)."""
    rows = [PART_PALETTE[i % len(PART_PALETTE)] for i in range(num_parts)]
    return np.array([*rows, UNLABELED_COLOR], dtype=np.uint8)


def part_colors(point_part: np.ndarray, num_parts: int) -> np.ndarray:
    """(N,) part indices (-1 unlabeled) -> (N, 3) uint8 part colours."""
    table = part_color_table(num_parts)
    index = np.asarray(point_part, dtype=np.int64)
    return table[np.where(index == UNLABELED, num_parts, index)]


def views_seen_colors(views_seen: np.ndarray, most: int | None = None) -> np.ndarray:
    """(N,) view counts -> (N, 3) uint8: 0 is ``UNSEEN_COLOR``, 1..most a dark-to-bright
    ramp (``most`` defaults to the largest count)."""
    seen = np.asarray(views_seen, dtype=np.float64)
    top = max(float(most if most is not None else seen.max(initial=0)), 1.0)
    position = np.clip((seen - 1) / max(top - 1, 1.0), 0.0, 1.0) * (len(_RAMP) - 1)
    lower = np.minimum(np.floor(position).astype(int), len(_RAMP) - 2)
    fraction = (position - lower)[:, None]
    colors = _RAMP[lower] * (1 - fraction) + _RAMP[lower + 1] * fraction
    colors[seen == 0] = UNSEEN_COLOR
    return np.round(colors).astype(np.uint8)


def point_picture(
    points: np.ndarray,
    colors: np.ndarray,
    normals: np.ndarray | None = None,
    size: int = PICTURE_SIZE,
    azimuth_deg: float = 35.0,
    elevation_deg: float = 20.0,
) -> Image.Image:
    """Points drawn as coloured splats, shaded by their normals when given.

    Args:
        points: (N, 3) positions in the normalized frame (inside the unit cube).
        colors: (N, 3) uint8 RGB.
        normals: (N, 3) unit normals, or None (flat colours).
        size: picture side in pixels.
        azimuth_deg, elevation_deg: the camera's direction (see the module docstring).

    Returns:
        An RGB picture, white background.
    """
    from featurizers.rendering import render_shape  # the GL renderer, loaded on first use

    turn = math.radians(azimuth_deg)
    rotation = np.array(
        [
            [math.cos(turn), 0.0, -math.sin(turn)],
            [0.0, 1.0, 0.0],
            [math.sin(turn), 0.0, math.cos(turn)],
        ]
    )
    points = np.asarray(points, dtype=np.float64) @ rotation.T
    cloud = PointCloud(
        points=points.astype(np.float32),
        point_part=np.zeros(len(points), dtype=np.int16),
        normals=None if normals is None else (np.asarray(normals) @ rotation.T).astype(np.float32),
        colors=np.asarray(colors, dtype=np.uint8),
    )
    record = ShapeRecord("preview", "preview", "", ("points",), cloud=cloud)
    radius = max(float(np.linalg.norm(points, axis=1).max(initial=0.0)), 1e-3) * 1.05
    rig = orbit_rig(
        num_views=1, image_size=size, elevations_deg=(elevation_deg,), frame_radius=radius
    )
    mode = "unlit" if normals is None else "shaded"
    renders = render_shape(record, rig, np.zeros(3), 1.0, mode=mode, background=_BACKGROUND)
    return Image.fromarray(renders.rgb[0])


def with_legend(
    picture: Image.Image, entries: Sequence[tuple[str, tuple[int, int, int]]]
) -> Image.Image:
    """``picture`` with a legend to its right: a swatch and a name per entry (those that
    do not fit its height are summed up in a last line)."""
    height = max(picture.height, _LEGEND_ROW * 2)
    canvas = Image.new("RGB", (picture.width + _LEGEND_WIDTH, height), _BACKGROUND)
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=12)
    fits = height // _LEGEND_ROW
    shown = list(entries) if len(entries) <= fits else list(entries[: fits - 1])
    for row, (name, color) in enumerate(shown):
        top = 4 + row * _LEGEND_ROW
        left = picture.width + 6
        draw.rectangle([left, top, left + 12, top + 12], fill=tuple(color), outline=(0, 0, 0))
        draw.text((left + 18, top - 1), _fit(draw, name, font), fill=(0, 0, 0), font=font)
    if len(shown) < len(entries):
        top = 4 + len(shown) * _LEGEND_ROW
        more = f"... {len(entries) - len(shown)} more"
        draw.text((picture.width + 24, top - 1), more, fill=(0, 0, 0), font=font)
    return canvas


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont) -> str:
    """``text`` cut at its start (``...`` first) to the legend's width: the end of a
    PartNet path (``chair/chair_back/.../back_single_surface``) is the part."""
    room = _LEGEND_WIDTH - 28
    if draw.textlength(text, font=font) <= room:
        return text
    while text and draw.textlength("..." + text, font=font) > room:
        text = text[1:]
    return "..." + text


def part_legend(shape: Mapping) -> list[tuple[str, tuple[int, int, int]]]:
    """(name, RGB) of each of the shape's parts in ``parts`` order, then ``(unlabeled)``
    when some points have no part."""
    names = [part["name"] for part in shape.get("parts") or []]
    table = part_color_table(len(names))
    entries = [(name, tuple(int(c) for c in table[i])) for i, name in enumerate(names)]
    if np.any(np.asarray(shape["point_part"]) == UNLABELED):
        entries.append(("(unlabeled)", UNLABELED_COLOR))
    return entries


def parts_picture(shape: Mapping, size: int = PICTURE_SIZE) -> Image.Image:
    """The shape's points coloured by part, with the legend of part names."""
    colors = part_colors(shape["point_part"], len(shape.get("parts") or []))
    picture = point_picture(shape["points"], colors, shape.get("normals"), size)
    return with_legend(picture, part_legend(shape))


def views_seen_picture(shape: Mapping, size: int = PICTURE_SIZE) -> Image.Image:
    """The shape's points coloured by ``views_seen``, with the ramp's legend."""
    seen = np.asarray(shape["views_seen"])
    most = int(seen.max(initial=0))
    picture = point_picture(
        shape["points"], views_seen_colors(seen, most), shape.get("normals"), size
    )
    unseen = int(np.count_nonzero(seen == 0))
    entries = [(f"0 views: {unseen} points", UNSEEN_COLOR)]
    if most >= 1:
        steps = sorted({1, (most + 1) // 2, most})
        ramp = views_seen_colors(np.array(steps), most)
        entries += [
            (f"{step} view{'s' * (step != 1)}", tuple(map(int, c)))
            for step, c in zip(steps, ramp, strict=True)
        ]
    return with_legend(picture, entries)


def pca_picture(shape: Mapping, pca: FeaturePca, size: int = PICTURE_SIZE) -> Image.Image:
    """The shape's points coloured by ``pca`` of its ``pca.column`` (unshaded: the colour
    is the feature)."""
    return point_picture(shape["points"], pca.colors(shape[pca.column]), None, size)


def contact_sheet(images: Sequence[Image.Image], columns: int = 4, cell: int = 160) -> Image.Image:
    """Images side by side, ``columns`` a row, each fitted into a ``cell`` x ``cell`` square."""
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (min(columns, len(images)) * cell, rows * cell), _BACKGROUND)
    for i, image in enumerate(images):
        thumb = image.convert("RGB")
        thumb.thumbnail((cell, cell))
        left = (i % columns) * cell + (cell - thumb.width) // 2
        top = (i // columns) * cell + (cell - thumb.height) // 2
        sheet.paste(thumb, (left, top))
    return sheet


#: Feature columns that get a PCA picture, when a shape has them.
PCA_COLUMNS = ("dino", "partfield")


def shape_previews(
    shape: Mapping,
    pcas: Mapping[str, FeaturePca] | None = None,
    views: Sequence[Image.Image] = (),
    size: int = PICTURE_SIZE,
) -> dict[str, Image.Image]:
    """Every picture of one shape, by name.

    Args:
        shape: a shape dict (``ShardReader``).
        pcas: a ``FeaturePca`` per column; a column present without one gets a PCA fitted
            on this shape alone.
        views: rendered views of the shape (e.g. ``views/``'s ``rgb_png``), for ``views``.
        size: side of each point picture in pixels.

    Returns:
        ``parts``; ``views_seen``, ``dino_pca``, ``partfield_pca`` and ``views`` where the
        shape has that column (or views were given).
    """
    pictures = {"parts": parts_picture(shape, size)}
    if "views_seen" in shape:
        pictures["views_seen"] = views_seen_picture(shape, size)
    for column in PCA_COLUMNS:
        if column in shape:
            pca = (pcas or {}).get(column) or fit_pca(column, [shape[column]])
            pictures[f"{column}_pca"] = pca_picture(shape, pca, size)
    if views:
        pictures["views"] = contact_sheet(views)
    return pictures
