"""Headless multi-view rendering of a shape into RGB, depth and triangle-id buffers.

One code path for CPU and GPU: ``moderngl`` on an EGL standalone context, which is Mesa
llvmpipe on a machine without a GPU (Debian: ``libegl1 libgl1 libegl-mesa0
libgl1-mesa-dri``) and the NVIDIA driver's EGL on a GPU machine (``gl_renderer`` says
which). Each process creates its own context on first use; it is current only on the
thread rendering (one at a time), and it is closed before any ``os.fork`` so that no
driver state crosses a fork.

Surface colors follow ``featurizers.sampling.surface_color``: base color texture times the
material's base color factor (glTF PBR) or diffuse color (OBJ/MTL), vertex colors
interpolated, face colors flat, trimesh's default gray for bare geometry. Textures are
read as glTF defines it, like ``featurizers.sampling.sample_texture``: UV 0..1 spans the
texture's edges (texel centers at ``(i + 0.5) / W``), coordinates outside wrap by the
texture's sampler (``REPEAT`` by default, ``MIRRORED_REPEAT``, ``CLAMP_TO_EDGE``), and its
filters apply: in ``"unlit"`` mode the full-resolution level through the magnification
filter (the color at each surface point, as the sampler computes it), in ``"shaded"``
mode the minification filter (trilinear mipmaps unless the sampler says otherwise: no
aliasing of minified textures).
Mesh pieces are drawn as triangle soup, so every corner carries its face's color and
normal. Alpha is ignored: everything is drawn opaque.

Modes: ``"shaded"`` multiplies the base color by a two-sided Lambert term (a light in the
camera's upper left, plus ambient), the input for DINOv2; ``"unlit"`` writes the base
color as authored, the input of the ``rgb`` featurizer.

Point clouds are drawn as square splats of a fixed world size (by default about twice the
median nearest-neighbor spacing); their id buffer holds point indices.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import moderngl
import numpy as np
import trimesh
from PIL import Image
from scipy.spatial import cKDTree

from featurizers.cameras import CameraRig
from featurizers.sampling import (
    DEFAULT_COLOR,
    MIRRORED_REPEAT,
    REPEAT,
    TextureSampler,
    material_color,
    texture_pixels,
    texture_sampler,
)
from featurizers.shapes import PointCloud, ShapeRecord

RenderMode = Literal["shaded", "unlit"]

#: Splat size of point clouds, in multiples of the median nearest-neighbor distance.
SPLAT_SPACINGS = 2.0

_VERTEX_SHADER = """
#version 330
uniform mat4 view_projection;
uniform mat4 view;
uniform float focal;
uniform float splat_size;
in vec3 in_position;
in vec3 in_normal;
in vec4 in_color;
in vec2 in_uv;
out vec3 v_normal;
out vec4 v_color;
out vec2 v_uv;
out vec3 v_camera;
void main() {
    gl_Position = view_projection * vec4(in_position, 1.0);
    v_camera = (view * vec4(in_position, 1.0)).xyz;
    v_normal = mat3(view) * in_normal;
    v_color = in_color;
    v_uv = in_uv;
    gl_PointSize = max(splat_size * focal / v_camera.z, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform sampler2D base_color_texture;
uniform vec2 mirror;  // 1 on axes wrapped MIRRORED_REPEAT (the texture clamps there)
uniform float shaded;
uniform int id_offset;
in vec3 v_normal;
in vec4 v_color;
in vec2 v_uv;
in vec3 v_camera;
layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
layout(location = 2) out int out_id;
layout(location = 3) out float out_front;
const vec3 LIGHT = normalize(vec3(-0.4, -0.6, -1.0));
void main() {
    vec2 st = mix(v_uv, 1.0 - abs(mod(v_uv, 2.0) - 1.0), mirror);
    vec4 exact = textureLod(base_color_texture, st, 0.0);  // the color at the point
    vec4 filtered = texture(base_color_texture, st);  // mipmapped: no aliasing
    vec3 base = v_color.rgb * mix(exact, filtered, shaded).rgb;
    float n = length(v_normal);
    float lambert = n > 0.0 ? abs(dot(v_normal / n, LIGHT)) : 1.0;
    out_color = vec4(base * mix(1.0, 0.35 + 0.65 * lambert, shaded), 1.0);
    out_depth = v_camera.z;
    out_id = gl_PrimitiveID + id_offset + 1;
    out_front = dot(v_normal, v_camera) <= 0.0 ? 1.0 : 0.0;
}
"""

# Per-vertex layout: position (3), normal (3), color in 0..1 (4), uv (2).
_ATTRIBUTES = ("3f 3f 4f 2f", "in_position", "in_normal", "in_color", "in_uv")


@dataclass(frozen=True)
class Renders:
    """V rendered views of one shape.

    Attributes:
        rgb: (V, S, S, 3) uint8 color images, row 0 at the top.
        depth: (V, S, S) float32 camera-space z of the visible surface (normalized-frame
            units), ``inf`` on background pixels.
        face_id: (V, S, S) int32 global face index of the visible triangle (for point
            clouds: index of the visible point), -1 on background pixels.
        front_facing: (V, S, S) bool, the visible surface's normal (from the face winding,
            or the cloud's normals) points towards the camera; True where unknown (zero
            normal) and on background pixels.
        rig: the cameras, so any normalized-frame point projects into the images.
        splat_size: world size of point-cloud splats, 0.0 for meshes.
    """

    rgb: np.ndarray
    depth: np.ndarray
    face_id: np.ndarray
    front_facing: np.ndarray
    rig: CameraRig
    splat_size: float = 0.0


@dataclass
class _Drawable:
    """One draw call: a vertex array, its texture (and the texture's mirrored axes), its
    primitive type and id offset."""

    vao: moderngl.VertexArray
    buffer: moderngl.Buffer
    texture: moderngl.Texture
    primitive: int
    id_offset: int
    mirror: tuple[float, float]


class _GlState:
    """The GL context of this process, its shader program and its framebuffers."""

    def __init__(self) -> None:
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as error:
            raise RuntimeError(
                f"cannot create a headless OpenGL (EGL) context: {error}; install the NVIDIA "
                "driver or Mesa (Debian: libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri)"
            ) from error
        self.ctx.enable(moderngl.DEPTH_TEST | moderngl.PROGRAM_POINT_SIZE)
        self.program = self.ctx.program(
            vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER
        )
        self.white = self.ctx.texture((1, 1), 4, bytes([255, 255, 255, 255]))
        self._framebuffers: dict[int, moderngl.Framebuffer] = {}

    def framebuffer(self, size: int) -> moderngl.Framebuffer:
        """An S x S framebuffer: RGBA8 color, R32F depth, R32I id + 1, R8 front facing."""
        if size not in self._framebuffers:
            self._framebuffers[size] = self.ctx.framebuffer(
                color_attachments=[
                    self.ctx.texture((size, size), 4),
                    self.ctx.texture((size, size), 1, dtype="f4"),
                    self.ctx.texture((size, size), 1, dtype="i4"),
                    self.ctx.texture((size, size), 1, dtype="f1"),
                ],
                depth_attachment=self.ctx.depth_renderbuffer((size, size)),
            )
        return self._framebuffers[size]

    def close(self) -> None:
        """Destroy the context and terminate its EGL display (glcontext leaves it up)."""
        egl = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
        egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
        egl.eglTerminate.argtypes = [ctypes.c_void_p]
        with self.ctx:
            display = egl.eglGetCurrentDisplay()
        self.ctx.release()
        if display:
            egl.eglTerminate(display)


_STATE: _GlState | None = None
_LOCK = threading.Lock()


@contextmanager
def _current_gl() -> Iterator[_GlState]:
    """This process's GL state, created on first use and current on the calling thread
    while held; one thread at a time."""
    global _STATE
    with _LOCK:
        if _STATE is None:
            _STATE = _GlState()
        with _STATE.ctx:
            yield _STATE


def _close_before_fork() -> None:
    """Close the GL state before a fork, so that the child inherits no driver state (Mesa's
    llvmpipe threads do not survive a fork: a child rendering through them hangs). Both
    processes make a fresh context on their next render."""
    global _STATE
    _LOCK.acquire()
    if _STATE is not None:
        _STATE.close()
        _STATE = None


os.register_at_fork(
    before=_close_before_fork, after_in_parent=_LOCK.release, after_in_child=_LOCK.release
)


def gl_renderer() -> str:
    """The OpenGL renderer rendering in this process: ``"llvmpipe (...)"`` on the CPU, the
    GPU's name on NVIDIA (worth recording in run.json)."""
    with _current_gl() as gl:
        return gl.ctx.info["GL_RENDERER"]


def render_shape(
    record: ShapeRecord,
    rig: CameraRig,
    center: np.ndarray,
    scale: float,
    mode: RenderMode = "shaded",
    background: tuple[int, int, int] = (255, 255, 255),
    splat_size: float | None = None,
) -> Renders:
    """Render a shape, normalized as ``(xyz - center) / scale``, from every camera of a rig.

    Args:
        record: the shape (mesh pieces or a point cloud).
        rig: the cameras, in the normalized frame.
        center: (3,) normalization center in source units.
        scale: normalization scale (source units per normalized unit).
        mode: ``"shaded"`` or ``"unlit"`` (base color as authored).
        background: RGB of background pixels.
        splat_size: world size of point-cloud splats (normalized units); None: automatic.

    Returns:
        The buffers of all views and the rig.
    """
    if mode not in ("shaded", "unlit"):
        raise ValueError(f"unknown render mode {mode!r} (expected 'shaded' or 'unlit')")
    center = np.asarray(center, dtype=np.float64)
    splat = 0.0
    if record.cloud is not None:
        points = (record.cloud.points - center) / scale
        splat = _auto_splat_size(points) if splat_size is None else float(splat_size)
    with _current_gl() as gl:
        if record.cloud is not None:
            drawables = [_cloud_drawable(gl, record.cloud, points)]
        else:
            drawables = [
                _piece_drawable(gl, piece.mesh, center, scale, int(offset))
                for piece, offset in zip(record.pieces, record.face_offsets[:-1], strict=True)
                if len(piece.mesh.faces)
            ]
        try:
            buffers = _draw_views(gl, drawables, rig, mode, background, splat)
        finally:
            for drawable in drawables:
                drawable.vao.release()
                drawable.buffer.release()
                if drawable.texture is not gl.white:
                    drawable.texture.release()
    return Renders(*buffers, rig=rig, splat_size=splat)


def _draw_views(
    gl: _GlState,
    drawables: list[_Drawable],
    rig: CameraRig,
    mode: RenderMode,
    background: tuple[int, int, int],
    splat_size: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RGB, depth, id and front-facing buffers of every view (see ``Renders``)."""
    size, views = rig.image_size, rig.num_views
    rgb = np.empty((views, size, size, 3), dtype=np.uint8)
    depth = np.empty((views, size, size), dtype=np.float32)
    face_id = np.empty((views, size, size), dtype=np.int32)
    front = np.empty((views, size, size), dtype=np.uint8)
    framebuffer = gl.framebuffer(size)
    framebuffer.use()
    program = gl.program
    program["shaded"].value = 1.0 if mode == "shaded" else 0.0
    program["splat_size"].value = splat_size
    view_projections = rig.gl_view_projection()
    for v in range(views):
        framebuffer.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)  # zero bits: id 0 = background
        program["view_projection"].write(view_projections[v].T.tobytes())
        program["view"].write(np.ascontiguousarray(rig.extrinsics[v].T, dtype="f4").tobytes())
        program["focal"].value = float(rig.intrinsics[v, 0, 0])
        for drawable in drawables:
            program["id_offset"].value = drawable.id_offset
            program["mirror"].value = drawable.mirror
            drawable.texture.use(0)
            drawable.vao.render(drawable.primitive)
        rgb[v] = _read(framebuffer, 0, 3, "f1", np.uint8, size)[..., :3]
        depth[v] = _read(framebuffer, 1, 1, "f4", np.float32, size)[..., 0]
        face_id[v] = _read(framebuffer, 2, 1, "i4", np.int32, size)[..., 0]
        front[v] = _read(framebuffer, 3, 1, "f1", np.uint8, size)[..., 0]
    background_pixels = face_id == 0
    face_id -= 1
    depth[background_pixels] = np.inf
    rgb[background_pixels] = background
    return rgb, depth, face_id, (front > 0) | background_pixels


def _read(
    framebuffer: moderngl.Framebuffer,
    attachment: int,
    components: int,
    gl_dtype: str,
    dtype: type,
    size: int,
) -> np.ndarray:
    data = framebuffer.read(components=components, attachment=attachment, dtype=gl_dtype)
    return np.frombuffer(data, dtype=dtype).reshape(size, size, components)


def _piece_drawable(
    gl: _GlState, mesh: trimesh.Trimesh, center: np.ndarray, scale: float, face_offset: int
) -> _Drawable:
    """Triangle soup of one mesh piece, with its colors and base color texture."""
    faces = np.asarray(mesh.faces)
    corners = len(faces) * 3
    positions = (np.asarray(mesh.vertices)[faces].reshape(corners, 3) - center) / scale
    normals = np.repeat(np.asarray(mesh.face_normals), 3, axis=0)
    colors, uv, image = _corner_colors(mesh)
    vertices = np.hstack([positions, normals, colors / 255.0, uv])
    if image is None:
        return _drawable(gl, vertices, gl.white, moderngl.TRIANGLES, face_offset)
    sampler = texture_sampler(image)
    texture = _texture(gl, image, sampler)
    mirror = (float(sampler.wrap_s == MIRRORED_REPEAT), float(sampler.wrap_t == MIRRORED_REPEAT))
    return _drawable(gl, vertices, texture, moderngl.TRIANGLES, face_offset, mirror)


def _corner_colors(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray, Image.Image | None]:
    """Per-corner RGBA (F*3, 4) in 0..255, UV (F*3, 2) and the base color image or None."""
    visual, faces = mesh.visual, np.asarray(mesh.faces)
    corners = len(faces) * 3
    uv = np.zeros((corners, 2))
    image = None
    if visual.kind == "texture":
        factor, image = material_color(visual.material)
        colors = np.broadcast_to(np.append(factor, 255.0), (corners, 4))
        if image is not None and visual.uv is not None and len(visual.uv):
            uv = np.asarray(visual.uv, dtype=np.float64)[faces].reshape(corners, 2)
        else:
            image = None
    elif visual.kind == "vertex":
        colors = np.asarray(visual.vertex_colors)[faces].reshape(corners, 4)
    elif visual.kind == "face":
        colors = np.repeat(np.asarray(visual.face_colors), 3, axis=0)
    else:
        colors = np.broadcast_to(np.append(DEFAULT_COLOR, 255), (corners, 4))
    return np.asarray(colors, dtype=np.float64), uv, image


def _texture(gl: _GlState, image: Image.Image, sampler: TextureSampler) -> moderngl.Texture:
    """An RGBA texture with mipmaps, wrapped and filtered by ``sampler``; rows flipped so
    that texture t = 0 is the image bottom (trimesh's v = 0). Mirrored axes clamp here
    and are mirrored in the shader."""
    pixels = np.ascontiguousarray(texture_pixels(image)[::-1])
    texture = gl.ctx.texture((pixels.shape[1], pixels.shape[0]), 4, pixels.tobytes())
    texture.build_mipmaps()
    texture.repeat_x = sampler.wrap_s == REPEAT
    texture.repeat_y = sampler.wrap_t == REPEAT
    minify = moderngl.LINEAR_MIPMAP_LINEAR if sampler.min_filter is None else sampler.min_filter
    texture.filter = (minify, sampler.mag_filter)  # glTF values are the GL enums
    return texture


def _cloud_drawable(gl: _GlState, cloud: PointCloud, points: np.ndarray) -> _Drawable:
    """Splats of a point cloud; the id buffer gets point indices."""
    count = len(points)
    normals = np.zeros((count, 3)) if cloud.normals is None else cloud.normals
    colors = np.broadcast_to(DEFAULT_COLOR, (count, 3)) if cloud.colors is None else cloud.colors
    vertices = np.hstack(
        [points, normals, colors / 255.0, np.ones((count, 1)), np.zeros((count, 2))]
    )
    return _drawable(gl, vertices, gl.white, moderngl.POINTS, 0)


def _drawable(
    gl: _GlState,
    vertices: np.ndarray,
    texture: moderngl.Texture,
    primitive: int,
    id_offset: int,
    mirror: tuple[float, float] = (0.0, 0.0),
) -> _Drawable:
    """Upload (n, 12) vertices laid out as ``_ATTRIBUTES``."""
    buffer = gl.ctx.buffer(vertices.astype("f4").tobytes())
    vao = gl.ctx.vertex_array(gl.program, [(buffer, *_ATTRIBUTES)])
    return _Drawable(vao, buffer, texture, primitive, id_offset, mirror)


def _auto_splat_size(points: np.ndarray) -> float:
    """Splat size: ``SPLAT_SPACINGS`` times the median nearest-neighbor distance."""
    if len(points) < 2:
        return 0.01
    distances, _ = cKDTree(points).query(points, k=2)
    return SPLAT_SPACINGS * float(np.median(distances[:, 1]))
