"""Rendering sources from folders (ShapeNet / DTD / VOT / video layouts) and clear errors on bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from defmo.config import load
from defmo.data import assets
from defmo.data.dataset import SyntheticFMODataset
from defmo.data.generate import render_split
from defmo.errors import UserError


def write_folders(root):
    """ShapeNetCore.v2-style meshes (OBJ, PLY, STL), DTD-style textures, VOT frames and one video."""
    shapes = [trimesh.creation.box(), trimesh.creation.icosphere(subdivisions=2), trimesh.creation.capsule(),
              trimesh.creation.cone(0.5, 1.0), trimesh.creation.cylinder(0.4, 1.2), trimesh.creation.torus(0.6, 0.25)]
    for i, (mesh, ext) in enumerate(zip(shapes, ["obj", "ply", "stl", "obj", "ply", "obj"])):
        path = root / "meshes" / "02691156" / f"model{i}" / "models" / f"model_normalized.{ext}"
        path.parent.mkdir(parents=True)
        mesh.export(path)
    rng = np.random.default_rng(0)
    (root / "textures" / "images" / "banded").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(root / "textures" / "images" / "banded" / f"t{i}.jpg"), rng.integers(0, 255, (80, 80, 3), np.uint8))
    for s in range(3):
        seq = root / "backgrounds" / f"seq{s}" / "color"
        seq.mkdir(parents=True)
        for f in range(3):
            cv2.imwrite(str(seq / f"{f:08d}.jpg"), np.full((90, 120, 3), 60 * s + 10 * f, np.uint8))
    writer = cv2.VideoWriter(str(root / "backgrounds" / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (120, 90))
    for f in range(5):
        writer.write(np.full((90, 120, 3), 40 * f, np.uint8))
    writer.release()
    return root


def folder_cfg(repo, root, **extra):
    overrides = [f"data.meshes={root / 'meshes'}", f"data.textures={root / 'textures'}",
                 f"data.backgrounds={root / 'backgrounds'}", "data.val_fraction=0.34"]
    overrides += [f"{k.replace('__', '.')}={v}" for k, v in extra.items()]
    return load(repo / "params.yaml", "tiny", overrides)


def test_folders_in_dataset_layouts_render(repo, tmp_path):
    root = write_folders(tmp_path / "src")
    cfg = folder_cfg(repo, root)
    data = cfg.data.to_dict()  # what sample.Sources.for_split hands the asset lists
    train, val = assets.list_meshes(data, "train"), assets.list_meshes(data, "val")
    assert len(train) + len(val) == 6 and not set(train) & set(val)
    backgrounds = assets.list_backgrounds(data, "train") + assets.list_backgrounds(data, "val")
    assert sorted(b.path.name for b in backgrounds) == ["clip.avi", "color", "color", "color"]
    video = next(b for b in backgrounds if b.path.suffix == ".avi")
    assert assets.read_background_frame(video, np.random.default_rng(1)).shape == (90, 120, 3)
    render_split(cfg, "train", tmp_path / "out", count=4)
    assert len(SyntheticFMODataset(tmp_path / "out")) == 4


def test_missing_mesh_folder(repo, tmp_path):
    cfg = load(repo / "params.yaml", "tiny", [f"data.meshes={tmp_path / 'nope'}"])
    with pytest.raises(UserError, match="data.meshes.*nope"):
        render_split(cfg, "train", tmp_path / "out", count=2)
    assert not (tmp_path / "out").exists()


def test_unreadable_mesh_names_the_file(repo, tmp_path):
    root = write_folders(tmp_path / "src")
    bad = root / "meshes" / "broken.obj"
    bad.write_text("v 0 0 0\nf 1 2 3\nthis is not an obj file\n")
    with pytest.raises(UserError, match="broken.obj"):
        assets.load_mesh(bad)
    for mesh in (root / "meshes" / "02691156").rglob("*.*"):
        mesh.unlink()
    cfg = folder_cfg(repo, root, data__val_meshes=str(root / "meshes"))
    with pytest.raises(UserError, match="broken.obj"):
        render_split(cfg, "val", tmp_path / "out", count=2)


def test_empty_background_folder(repo, tmp_path):
    root = write_folders(tmp_path / "src")
    empty = tmp_path / "empty"
    (empty / "seq0").mkdir(parents=True)
    cfg = folder_cfg(repo, root, data__backgrounds=str(empty))
    with pytest.raises(UserError, match="data.backgrounds.*holds no videos"):
        render_split(cfg, "train", tmp_path / "out", count=2)


def test_embedded_sources_are_real_and_split_disjointly(repo):
    cfg = load(repo / "params.yaml", "tiny").data.to_dict()
    meshes = {s: assets.list_meshes(cfg, s) for s in ("train", "val")}
    backgrounds = {s: [b.name for b in assets.list_backgrounds(cfg, s)] for s in ("train", "val")}
    assert len(meshes["train"]) > 500 and len(meshes["val"]) > 100
    assert not set(meshes["train"]) & set(meshes["val"])
    assert len(backgrounds["train"]) >= 10 and backgrounds["val"]
    assert not set(backgrounds["train"]) & set(backgrounds["val"])
    mesh = assets.load_mesh(meshes["val"][0])
    assert np.isclose(np.linalg.norm(mesh.bounds[1] - mesh.bounds[0]), 2.0)


def test_split_is_disjoint_complete_and_keeps_families_together(tmp_path):
    items = [tmp_path / "bg" / f"motorcycle_{s}.png" for s in ("left", "right")]
    items += [tmp_path / "bg" / f"img{i}.png" for i in range(8)]
    items += [tmp_path / "shapenet" / "02691156" / "m1" / "models" / f"part{i}.obj" for i in range(2)]
    for fraction in (0.1, 0.3, 0.6):
        train, val = assets.split_items(items, fraction, "train"), assets.split_items(items, fraction, "val")
        assert train and val and not set(train) & set(val) and sorted(train + val) == sorted(items)
        for pair in (items[:2], items[-2:]):
            assert (pair[0] in val) == (pair[1] in val)
    with pytest.raises(UserError, match="split"):
        assets.split_items(items, 0.2, "test")
