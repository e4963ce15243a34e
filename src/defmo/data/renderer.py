"""Real 3D rendering of a textured triangle mesh under a perspective camera (pyrender through Mesa's EGL).

Scene convention: the camera sits on the +z axis at ``CAMERA_DISTANCE`` looking at the origin; the image plane
is x (right) / y (up); z is depth (DeFMO's "x" axis). The vertical field of view shows ``HALF_EXTENT`` scene
units either side of the origin on the z = 0 plane. Output RGBA is straight (not premultiplied) colour with
coverage alpha from 4x multisampling, uint8.

Continuous exposure (the training sub-frames and the benchmark's high-speed frames): an exposure [0, 1] split into
n equal slices, each sub-frame the RGBA mean of k renders spread over its own slice (:func:`render_exposure`), as
a high-speed camera integrates over its short exposure. The mean keeps the blatting equation: over the n
averaged sub-frames it equals the one over all n * k renders.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # must precede the first OpenGL import

import numpy as np  # noqa: E402
import pyrender  # noqa: E402
import trimesh  # noqa: E402

from defmo.errors import UserError  # noqa: E402

CAMERA_DISTANCE = 3.5
HALF_EXTENT = 1.2


def spherical_uv(vertices: np.ndarray) -> np.ndarray:
    """Texture coordinates ``(V, 2)`` in [0, 1] by spherical projection of centred vertices ``(V, 3)``."""
    radius = np.linalg.norm(vertices, axis=1) + 1e-12
    u = 0.5 + np.arctan2(vertices[:, 2], vertices[:, 0]) / (2 * np.pi)
    v = 0.5 + np.arcsin(np.clip(vertices[:, 1] / radius, -1, 1)) / np.pi
    return np.stack([u, v], axis=1)


def make_primitive(mesh: trimesh.Trimesh, texture: np.ndarray | None, colour=None) -> pyrender.Mesh:
    """A pyrender mesh: ``texture`` RGB uint8 ``(h, w, 3)`` mapped spherically, or a uniform RGB ``colour``."""
    if texture is not None:
        material = pyrender.MetallicRoughnessMaterial(
            baseColorTexture=pyrender.Texture(source=texture, source_channels="RGB"),
            metallicFactor=0.0, roughnessFactor=0.7)
        uv = spherical_uv(np.asarray(mesh.vertices))
    else:
        rgba = np.r_[np.asarray(colour, np.float64), 1.0]
        material = pyrender.MetallicRoughnessMaterial(baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.7)
        uv = None
    prim = pyrender.Primitive(
        positions=np.asarray(mesh.vertices, np.float32), normals=np.asarray(mesh.vertex_normals, np.float32),
        texcoord_0=None if uv is None else uv.astype(np.float32), indices=np.asarray(mesh.faces, np.uint32),
        material=material, mode=pyrender.constants.GLTF.TRIANGLES)
    return pyrender.Mesh(primitives=[prim])


def pose_matrix(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """4x4 rigid transform from a 3x3 rotation and a 3-vector translation."""
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, translation
    return pose


class ObjectRenderer:
    """Offscreen renderer for one object at a time; reuse it for many samples (context creation is costly).

    ``render(poses)`` -> ``(N, H, W, 4)`` uint8 straight RGBA, one image per 4x4 object pose.
    """

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        try:
            self._gl = pyrender.OffscreenRenderer(width, height)
        except Exception as exc:  # noqa: BLE001 - any EGL failure means the system packages are missing
            raise UserError(
                f"OpenGL (EGL) rendering failed ({type(exc).__name__}: {exc}); install Mesa's EGL "
                "(Debian: libegl1 libegl-mesa0) as the README's setup command does") from exc
        self.scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.3, 0.3, 0.3])
        yfov = 2 * np.arctan(HALF_EXTENT / CAMERA_DISTANCE)
        camera = pyrender.PerspectiveCamera(yfov=yfov, aspectRatio=width / height, znear=0.1, zfar=20.0)
        self.scene.add(camera, pose=pose_matrix(np.eye(3), np.array([0.0, 0.0, CAMERA_DISTANCE])))
        self._light = self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0))
        self._object = None

    def set_object(self, mesh: pyrender.Mesh) -> None:
        if self._object is not None:
            self.scene.remove_node(self._object)
        self._object = self.scene.add(mesh)

    def set_lighting(self, direction: np.ndarray, intensity: float, ambient: float) -> None:
        """Directional light shining along ``direction`` (3-vector, towards the scene) plus ambient grey."""
        z = -np.asarray(direction, np.float64) / np.linalg.norm(direction)
        x = np.cross([0.0, 1.0, 0.0], z)
        x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-6 else np.array([1.0, 0.0, 0.0])
        self.scene.set_pose(self._light, pose_matrix(np.stack([x, np.cross(z, x), z], axis=1), np.zeros(3)))
        self._light.light.intensity = float(intensity)
        self.scene.ambient_light = np.full(3, float(ambient))

    def render(self, poses: list[np.ndarray]) -> np.ndarray:
        flags = pyrender.RenderFlags.RGBA | pyrender.RenderFlags.SKIP_CULL_FACES
        out = np.empty((len(poses), self.height, self.width, 4), np.uint8)
        for i, pose in enumerate(poses):
            self.scene.set_pose(self._object, pose)
            colour, _ = self._gl.render(self.scene, flags=flags)
            out[i] = unpremultiply(colour)
        return out

    def close(self) -> None:
        self._gl.delete()


def exposure_times(n: int, k: int) -> np.ndarray:
    """Instants ``(n, k)`` in (0, 1): the exposure split into n equal slices, k instants per slice at the centres
    of k equal sub-slices, ``(i + (j + 0.5) / k) / n``."""
    return (np.arange(n)[:, None] + (np.arange(k)[None, :] + 0.5) / k) / n


def key_instants(n: int, k: int) -> np.ndarray:
    """One instant per slice (column ``k // 2`` of :func:`exposure_times`, the slice centre for odd k): the renders
    a cheap rejection looks at first, reused by :func:`render_exposure`."""
    return exposure_times(n, k)[:, k // 2]


def mean_exposure(renders: np.ndarray) -> np.ndarray:
    """Average straight RGBA renders ``(n, k, H, W, 4)`` uint8 over k into ``(n, H, W, 4)`` uint8 sub-frames.

    Alpha is ``mean_k(M)`` and straight colour ``mean_k(F * M) / mean_k(M)`` (0 where the stored alpha is 0), so
    that ``mean(F * M)`` and ``mean(M)`` over the sub-frames equal those over all renders (the blatting equation).
    """
    alpha = renders[..., 3:4].astype(np.float32) / 255.0
    cover = alpha.mean(axis=1)
    fg = (renders[..., :3].astype(np.float32) * alpha).mean(axis=1)
    alpha8 = (cover * 255.0).round()
    rgb = np.where(alpha8 > 0, fg / np.maximum(cover, 1e-12), 0.0)
    return np.concatenate([rgb.round().clip(0, 255), alpha8], axis=-1).astype(np.uint8)


def render_exposure(renderer, poses_at, n: int, k: int, key: np.ndarray | None = None) -> np.ndarray:
    """n continuous-exposure sub-frames ``(n, H, W, 4)`` uint8: the :func:`mean_exposure` of k renders per slice.

    ``poses_at(times)`` maps instants in [0, 1] to 4x4 object poses; ``key`` are renders already made at
    :func:`key_instants` (rendered here when None). k = 1 returns those instants unchanged.
    """
    times = exposure_times(n, k)
    if key is None:
        key = renderer.render(poses_at(times[:, k // 2]))
    if k == 1:
        return key
    rest = [j for j in range(k) if j != k // 2]
    others = renderer.render(poses_at(times[:, rest].ravel())).reshape(n, k - 1, *key.shape[1:])
    return mean_exposure(np.insert(others, k // 2, key, axis=1))


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Multisampled RGBA over a transparent black clear colour is premultiplied; return straight colour."""
    alpha = rgba[..., 3:4].astype(np.float32)
    rgb = rgba[..., :3].astype(np.float32) * 255.0 / np.maximum(alpha, 1.0)
    rgb = np.where(alpha > 0, np.clip(rgb, 0, 255), 0.0)
    return np.concatenate([rgb.round().astype(np.uint8), rgba[..., 3:4]], axis=-1)
