"""The typed configuration: frozen sections built once from the validated dict, and back to the same dict."""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections.abc import Mapping

import pytest
import yaml

from defmo.config import SCHEMA_DIR, ConfigError, _resolve, load
from defmo.errors import UserError
from defmo.settings import LOSSES, Approach, Config, FrozenMap, Model, SettingsError, Train, model_of


@pytest.fixture(scope="module")
def raw(repo):
    return yaml.safe_load((repo / "params.yaml").read_text())


@pytest.mark.parametrize("scale", ["cpu", "tiny", "paper"])
def test_to_dict_is_the_resolved_dict(repo, raw, scale):
    """The plain dict the untyped code passed around, key order included (the resolved file's name hashes it)."""
    cfg = load(repo / "params.yaml", scale)
    plain = _resolve(raw, scale, "params.yaml")
    assert json.dumps(cfg.to_dict()) == json.dumps(plain)
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_sections_are_read_by_attribute_not_as_mappings(repo):
    """No ``cfg["train"]["lr_g"]`` view: code that takes a plain mapping is handed ``to_dict()``."""
    cfg = load(repo / "params.yaml", "tiny")
    assert not isinstance(cfg, Mapping) and not isinstance(cfg.train, Mapping)
    with pytest.raises(TypeError):
        cfg["train"]  # noqa: B018
    assert cfg != cfg.to_dict() and cfg.train != cfg.train.to_dict()
    assert cfg.to_dict()["train"]["lr_g"] == cfg.train.lr_g
    assert isinstance(cfg.evaluate.datasets, Mapping)  # free-form tables stay read-only mappings


def test_sections_are_typed_and_frozen(repo):
    cfg = load(repo / "params.yaml", "cpu")
    assert cfg.train.lr_g == 0.001
    assert cfg.data.trajectory.travel_sizes == [1.0, 3.0] and isinstance(cfg.data.trajectory.travel_sizes, tuple)
    for obj, key in ((cfg, "seed"), (cfg.train, "lr_g"), (cfg.approach("defmo"), "epochs")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, key, 1)
    with pytest.raises(TypeError):
        cfg.evaluate.datasets["tbd"] = "elsewhere"
    assert pickle.loads(pickle.dumps(cfg)) == cfg  # crosses process boundaries (render workers)


def test_an_approach_is_one_object(repo):
    cfg = load(repo / "params.yaml", "cpu")
    defmo = cfg.approach("defmo")
    assert isinstance(defmo, Approach) and (defmo.epochs, defmo.batch_size) == (3, 8)
    assert defmo.weights == {"F": 1.0, "I": 3.0, "T": 1.0, "S": 0.1}  # L is 0 at this scale: off
    assert defmo.lr_step is None and defmo.step_size(cfg.train.lr_step) == 1 and "lr_step" not in defmo.to_dict()
    own = Approach.from_dict({"epochs": 2, "batch_size": 3, "lr_step": 5, "losses": {"C": 1}}, "train.approach.x")
    assert own.step_size(1) == 5 and own.to_dict() == {"epochs": 2, "batch_size": 3, "lr_step": 5, "losses": {"C": 1}}
    with pytest.raises(UserError, match="approach 'nope' is not defined under 'train.approach'"):
        cfg.approach("nope")


def test_loss_symbols_are_the_schemas(repo):
    """LOSSES is the one table of the symbols: exactly the ones the schema allows as loss keys."""
    schema = yaml.safe_load((SCHEMA_DIR / "sections" / "train.schema.yaml").read_text())
    allowed = schema["properties"]["approach"]["additionalProperties"]["properties"]["losses"]["propertyNames"]["enum"]
    assert list(LOSSES) == allowed
    assert LOSSES["G"] == "GAN sharpness" and LOSSES["N"] == "NN-based time-consistency"


def test_unknown_and_missing_keys_are_named():
    with pytest.raises(SettingsError, match=r"key 'train\.approach\.x\.warmup': unknown key"):
        Approach.from_dict({"epochs": 1, "batch_size": 1, "losses": {"F": 1}, "warmup": 3}, "train.approach.x")
    with pytest.raises(SettingsError, match=r"key 'train\.approach\.x\.batch_size': missing"):
        Approach.from_dict({"epochs": 1, "losses": {"F": 1}}, "train.approach.x")
    with pytest.raises(SettingsError, match=r"key 'train\.approach' must be a mapping"):
        Train.NESTED["approach"]([1, 2], "train.approach")


def test_wrong_types_and_unknown_keys_stop_loading(repo):
    """The schema check runs before the objects are built: the message names the key."""
    with pytest.raises(ConfigError, match=r"train\.lr_g"):
        load(repo / "params.yaml", "tiny", ["train.lr_g=fast"])
    with pytest.raises(ConfigError, match=r"key 'model\.colour': unknown key"):
        load(repo / "params.yaml", "tiny", ["model.colour=red"])


def test_variants_are_made_by_replacing(repo):
    from defmo.ablate.cell import cell_config

    cfg = load(repo / "params.yaml", "tiny")
    cell = cell_config(cfg, "proposed", "gc+mp")
    assert (cell.data.resolution, cell.approach("proposed").batch_size) == (cfg.ablate.resolution, 1)
    assert cell.train.gradient_checkpointing and cell.train.mixed_precision
    assert cfg.approach("proposed").batch_size == 4 and not cfg.train.gradient_checkpointing  # the original stays
    assert cell.approach("defmo") == cfg.approach("defmo")


def test_a_checkpoints_plain_model_section(repo):
    """Old checkpoints store a plain dict, perhaps without later keys: appearance defaults to the image."""
    old = {"model": {"generator": "streak", "encoder": "resnet18", "pretrained": "none", "gone": 1}}
    model = model_of(old)
    assert isinstance(model, Model) and model.appearance == "image" and model.ds_input is None
    cfg = load(repo / "params.yaml", "cpu")
    assert model_of(cfg) is cfg.model and model_of(cfg.to_dict()) == cfg.model
    assert FrozenMap({"a": [1]}) == {"a": [1]}
