"""Pictures of one shape (featurizers.previews), drawn by the real EGL renderer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from featurizers.previews import (
    PART_PALETTE,
    PICTURE_SIZE,
    UNLABELED_COLOR,
    UNSEEN_COLOR,
    contact_sheet,
    feature_sample,
    fit_pca,
    part_colors,
    parts_picture,
    shape_previews,
    views_seen_colors,
)


def _slab(rng, count, low, high):
    """``count`` points uniform in the box [low, high] (3-vectors), with +y normals."""
    points = rng.uniform(low, high, size=(count, 3)).astype(np.float32)
    normals = np.tile(np.array([0.0, 1.0, 0.0], np.float32), (count, 1))
    return points, normals


@pytest.fixture(scope="module")
def three_part_shape():
    """A base slab (part 0) under two blocks, left (part 1, -x) and right (part 2, +x),
    and a few unlabeled points at the back of the base."""
    rng = np.random.default_rng(7)
    pieces = [
        _slab(rng, 3000, (-0.45, -0.45, -0.45), (0.45, -0.35, 0.45)),
        _slab(rng, 1500, (-0.45, 0.0, -0.15), (-0.15, 0.45, 0.15)),
        _slab(rng, 1500, (0.15, 0.0, -0.15), (0.45, 0.45, 0.15)),
        _slab(rng, 200, (-0.1, -0.35, -0.45), (0.1, -0.3, -0.4)),
    ]
    labels = [0, 1, 2, -1]
    return {
        "shape_id": "test/three_parts",
        "points": np.concatenate([p for p, _ in pieces]),
        "normals": np.concatenate([n for _, n in pieces]),
        "point_part": np.concatenate(
            [np.full(len(p), label, np.int16) for (p, _), label in zip(pieces, labels, strict=True)]
        ),
        "parts": [{"name": "base"}, {"name": "left_block"}, {"name": "right_block"}],
    }


def _nearest_part(pixels: np.ndarray) -> np.ndarray:
    """Per pixel, the part (0..2) whose colour's chromaticity is nearest (shading scales
    a colour, it keeps its chromaticity); -1 for white background."""
    palette = np.array(PART_PALETTE[:3], float)
    chroma = palette / palette.sum(axis=1, keepdims=True)
    rgb = pixels.astype(float)
    shade = rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1.0)
    distance = np.linalg.norm(shade[..., None, :] - chroma, axis=-1)
    nearest = distance.argmin(axis=-1)
    return np.where((pixels >= 250).all(axis=-1), -1, nearest)


def test_part_colours_sit_in_the_regions_of_their_parts(three_part_shape):
    picture = np.asarray(parts_picture(three_part_shape))
    points = picture[:, :PICTURE_SIZE]  # the legend is to the right
    labels = _nearest_part(points)
    half = PICTURE_SIZE // 2
    bottom = labels[int(0.65 * PICTURE_SIZE) :]
    top_left, top_right = (
        labels[: int(0.45 * PICTURE_SIZE), :half],
        labels[: int(0.45 * PICTURE_SIZE), half:],
    )

    def share(region, part):
        drawn = region[region >= 0]
        return np.count_nonzero(drawn == part) / max(len(drawn), 1)

    assert np.count_nonzero(bottom >= 0) > 2000
    assert share(bottom, 0) > 0.9
    assert share(top_left, 1) > 0.9 and np.count_nonzero(top_left == 1) > 1000
    assert share(top_right, 2) > 0.9 and np.count_nonzero(top_right == 2) > 1000
    for part in (0, 1, 2):  # centroids: base below the blocks, left block left of right
        assert np.count_nonzero(labels == part) > 500, part
    centroid = {p: np.argwhere(labels == p).mean(axis=0) for p in (0, 1, 2)}
    assert centroid[0][0] > centroid[1][0] + 40 and centroid[0][0] > centroid[2][0] + 40
    assert centroid[1][1] + 60 < centroid[2][1]


def test_the_legend_names_each_part_with_its_colour(three_part_shape):
    picture = np.asarray(parts_picture(three_part_shape))
    legend = picture[:, PICTURE_SIZE:]
    swatch_centres = [legend[4 + row * 18 + 6, 12] for row in range(4)]  # 18 px rows
    expected = [*PART_PALETTE[:3], UNLABELED_COLOR]  # unlabeled points: a last entry
    assert [tuple(int(c) for c in s) for s in swatch_centres] == expected
    assert (legend[:80, 24:] < 100).all(axis=-1).any()  # names are written beside them


def test_part_colors_of_unlabeled_points_and_many_parts():
    colors = part_colors(np.array([0, 1, -1, 21]), num_parts=22)
    assert tuple(colors[0]) == PART_PALETTE[0] and tuple(colors[1]) == PART_PALETTE[1]
    assert tuple(colors[2]) == UNLABELED_COLOR
    assert tuple(colors[3]) == PART_PALETTE[21 % len(PART_PALETTE)]


def test_views_seen_ramp_marks_unseen_points_red():
    colors = views_seen_colors(np.array([0, 1, 6, 12]), most=12)
    assert tuple(colors[0]) == UNSEEN_COLOR
    brightness = colors[1:].astype(int).sum(axis=1)
    assert brightness[0] < brightness[1] < brightness[2]  # more views, brighter


def test_one_pca_gives_the_same_colour_to_the_same_feature_in_every_shape():
    rng = np.random.default_rng(3)
    axis = rng.normal(size=16)
    axis /= np.linalg.norm(axis)

    def features(count, shift):
        t = rng.uniform(-1, 1, size=count) + shift
        return (t[:, None] * axis + 0.01 * rng.normal(size=(count, 16))).astype(np.float16), t

    first, t_first = features(4000, 0.0)
    second, _ = features(4000, 0.5)
    pca = fit_pca("dino", [feature_sample(first, 1000, 1), feature_sample(second, 1000, 2)])
    assert abs(abs(pca.components[0] @ axis) - 1) < 1e-3  # the main axis is found
    red = pca.colors(first)[:, 0].astype(float)
    assert abs(np.corrcoef(red, t_first)[0, 1]) > 0.95
    shared = second[:5]
    assert np.array_equal(pca.colors(shared), pca.colors(shared.copy()))
    refit = fit_pca("dino", [feature_sample(first, 1000, 1), feature_sample(second, 1000, 2)])
    assert np.array_equal(refit.components, pca.components)  # deterministic, signs included


def test_shape_previews_draws_what_the_shape_has(three_part_shape):
    shape = dict(three_part_shape)
    count = len(shape["points"])
    shape["views_seen"] = np.arange(count, dtype=np.uint8) % 5
    shape["dino"] = np.random.default_rng(0).normal(size=(count, 8)).astype(np.float16)
    views = [Image.new("RGB", (64, 64), (10 * i, 0, 0)) for i in range(6)]
    pictures = shape_previews(shape, views=views)
    assert sorted(pictures) == ["dino_pca", "parts", "views", "views_seen"]
    assert pictures["views"].size == (4 * 160, 2 * 160)
    pca = np.asarray(pictures["dino_pca"])
    assert len(np.unique(pca.reshape(-1, 3), axis=0)) > 100  # colours vary with the features
    seen = np.asarray(pictures["views_seen"])[:, :PICTURE_SIZE]
    red, green, blue = np.moveaxis(seen.astype(int), -1, 0)  # unseen points: shaded red
    assert np.count_nonzero((red > 2 * green + 20) & (red > 2 * blue + 20)) > 50


def test_contact_sheet_needs_an_image():
    with pytest.raises(ValueError, match="at least one image"):
        contact_sheet([])
