"""vit_tiny goes through transfer learning as the convolutional classifier does: a backbone
(patch embedding, encoder blocks, class-token features) and a head; the freeze policies act
on its encoder blocks; ``triptych train`` trains the zoo model it is given (it once trained
the small classifier for every supervised zoo model)."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

import triptych
from triptych.cli import main
from triptych.common import data as D
from triptych.training import transfer as T

SMALL = {"image_shape": (1, 8, 8), "width": 16, "depth": 2, "heads": 2, "mlp": 32}


def _vit(framework: str, classes: int, seed: int) -> triptych.Model:
    return triptych.create("vit_tiny", framework=framework, seed=seed, num_classes=classes,
                           **SMALL)  # fmt: skip


@pytest.mark.parametrize("policy", ["head", "most", "few", "none"])
def test_vit_freeze_policies_keep_frozen_blocks_bitwise(policy, framework):
    train = D.load_digits().split(0.2, seed=0)[0].filter_classes(range(5, 10))
    source = _vit(framework, 5, seed=0).get_weights()
    model = _vit(framework, 5, seed=1)
    weights = model.get_weights()
    weights.update(T.backbone_weights(source, model.spec))
    model.set_weights(weights)
    before = model.get_weights()
    T.fine_tune(model, train.per_class(5, seed=1), policy, 5, steps=3, seed=1)
    after = model.get_weights()
    frozen = T.frozen_layers(model.spec, policy)
    blocks = T.backbone_blocks(model.spec)
    assert len(blocks) == SMALL["depth"]  # one block per encoder block, the stem in the first
    net = model.spec.networks["backbone"]
    frozen_keys = {f"backbone.{net.infos[i].key}" for _, i in frozen}
    for key in before:
        unchanged = np.array_equal(before[key], after[key])
        if key.rsplit(".", 1)[0] in frozen_keys:
            assert unchanged, key
        elif key.startswith("head.") or key.endswith("in_proj_weight"):
            assert not unchanged, key  # trainable layers moved
    n_frozen_blocks = {"head": 2, "most": 1, "few": 1, "none": 0}[policy]
    assert {i for block in blocks[:n_frozen_blocks] for i in block} >= {i for _, i in frozen}


def test_train_cli_pretrains_and_fine_tunes_vit_tiny(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    common = ["--steps", "2", "--no-progress"]
    assert main(["train", "vit_tiny", "--classes", "0-4", "--out", str(src), *common]) == 0
    ckpt = src / "checkpoint.safetensors"
    assert main(["train", "vit_tiny", "--classes", "5-9", "--init", str(ckpt), "--freeze",
                 "most", "--out", str(dst), *common]) == 0  # fmt: skip
    a, b = load_file(ckpt), load_file(dst / "checkpoint.safetensors")
    first_block = [k for k in a if k.startswith(("backbone.patch_embed", "backbone.block0_"))]
    assert first_block and all(np.array_equal(a[k], b[k]) for k in first_block)
    assert a["head.fc.weight"].shape == b["head.fc.weight"].shape == (5, 64)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vit_tiny"])
def test_train_trains_the_zoo_model_it_is_given(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["train", name, "--steps", "1", "--out", str(out), "--no-progress"]) == 0
    saved = set(load_file(out / "checkpoint.safetensors"))
    want = set(triptych.create(name, framework="torch", image_shape=(1, 8, 8)).get_weights())
    assert saved == want


def test_freezing_a_model_without_a_backbone_is_a_clear_error(tmp_path, capsys):
    code = main(["train", "resnet18", "--freeze", "most", "--steps", "1", "--out",
                 str(tmp_path), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "resnet18 has no backbone network" in err and "vit_tiny" in err
