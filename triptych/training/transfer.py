"""Transfer learning: reuse a backbone trained on a source task for a target task.

Freeze policies act on the classifier backbone's conv + BN + ReLU blocks:
  * ``head``: train only the new head (every block frozen);
  * ``most``: freeze all blocks but the last;
  * ``few``: freeze the first block only;
  * ``none``: fine-tune everything;
  * ``auto``: pick by target data size, labelled examples per class k (`AUTO_RULE`).
The head is always replaced and re-initialised for the target class count.

BatchNorm in frozen layers, the same in all three frameworks: it normalises with its running
statistics and does not update them (PyTorch: the module in eval mode; Keras:
``trainable=False``, which runs BN in inference mode; Gluon: ``use_global_stats``). A frozen
layer is therefore bitwise unchanged by fine-tuning, its statistics included.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common.spec import Conv2d, ModelSpec
from triptych.common.weights import WeightsError, load_weights
from triptych.model import Model, create

POLICIES = ("head", "most", "few", "none", "auto")
#: auto: (largest k, policy), first match wins; set from the measured transfer table
#: (benchmarks/transfer.md): fine-tuning everything from the pretrained backbone was the
#: best or tied-best policy at every k measured, so auto fine-tunes everything, with the
#: backbone at a lower learning rate (see `AUTO_LR_MULT`) when labels are very few.
AUTO_RULE: tuple[tuple[float, str], ...] = ((float("inf"), "none"),)
AUTO_LR_MULT = 1.0


def backbone_blocks(spec: ModelSpec) -> list[list[int]]:
    """Layer indices of each backbone block: where the spec names its blocks' first layers
    (``options["block_starts"]``, a ViT's encoder blocks), from each start to the next;
    else a Conv2d and the layers up to the next one. ValueError for a model without a
    ``backbone`` network (the freeze policies and ``--init`` need one)."""
    if "backbone" not in spec.networks:
        raise ValueError(
            f"{spec.name} has no backbone network: --init, --freeze and --lr-mult apply to "
            "models made of a backbone and a head (classifier, vit_tiny)"
        )
    layers = spec.networks["backbone"].layers
    starts = list(spec.options.get("block_starts", ())) or [
        i for i, layer in enumerate(layers) if isinstance(layer, Conv2d)
    ]
    ends = [*starts[1:], len(layers)]
    return [list(range(a, b)) for a, b in zip(starts, ends, strict=True)]


def resolve_policy(policy: str, k: float) -> str:
    """``auto`` -> a concrete policy for k labelled examples per class (inf = all)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown freeze policy {policy!r}; allowed: {', '.join(POLICIES)}")
    if policy != "auto":
        return policy
    return next(p for limit, p in AUTO_RULE if k <= limit)


def frozen_layers(spec: ModelSpec, policy: str, k: float = float("inf")) -> set[tuple[str, int]]:
    """(network, layer index) pairs that the policy freezes (layers with parameters only)."""
    concrete = resolve_policy(policy, k)
    blocks = backbone_blocks(spec)
    chosen = {"head": blocks, "most": blocks[:-1], "few": blocks[:1], "none": []}[concrete]
    net = spec.networks["backbone"]
    return {
        ("backbone", i)
        for block in chosen
        for i in block
        if net.infos[i].layer.param_shapes(net.infos[i].input_shape)
    }


def parse_lr_mult(items: list[str] | None) -> dict[tuple[str, int], float]:
    """``["backbone.0=0.1", ...]`` -> {("backbone", 0): 0.1}; a block start covers it."""
    out: dict[tuple[str, int], float] = {}
    for item in items or []:
        try:
            layer, factor = item.split("=", 1)
            network, index = layer.rsplit(".", 1)
            out[(network, int(index))] = float(factor)
        except ValueError:
            raise ValueError(
                f"--lr-mult wants NETWORK.INDEX=FACTOR (e.g. backbone.0=0.1), got {item!r}"
            ) from None
    return out


def expand_lr_mult(
    spec: ModelSpec, lr_mult: dict[tuple[str, int], float]
) -> dict[tuple[str, int], float]:
    """Validate names and apply a multiplier given for a block's conv to its BN as well."""
    out: dict[tuple[str, int], float] = {}
    blocks = {b[0]: b for b in backbone_blocks(spec)} if "backbone" in spec.networks else {}
    for (network, index), factor in lr_mult.items():
        if network not in spec.networks or not 0 <= index < len(spec.networks[network].layers):
            raise ValueError(f"--lr-mult: no layer {network}.{index} in {spec.name}")
        if factor < 0:
            raise ValueError(f"--lr-mult: factor must be >= 0, got {factor}")
        for i in blocks.get(index, [index]) if network == "backbone" else [index]:
            out[(network, i)] = factor
    return out


def backbone_weights(
    source: str | os.PathLike | dict[str, np.ndarray], target: ModelSpec
) -> dict[str, np.ndarray]:
    """The target's ``backbone.*`` tensors from a classifier checkpoint (its backbone) or a
    conv autoencoder checkpoint (its encoder); every mismatch is listed."""
    weights = load_weights(source)[1] if not isinstance(source, dict) else source
    wanted = {k: s for k, s in target.tensor_shapes().items() if k.startswith("backbone.")}
    prefix = "backbone." if any(k.startswith("backbone.") for k in weights) else "encoder."
    out, problems = {}, []
    for name, shape in wanted.items():
        src = prefix + name.split(".", 1)[1]
        if src not in weights:
            problems.append(f"missing {src} (for {name}, shape {shape})")
        elif tuple(weights[src].shape) != tuple(shape):
            problems.append(
                f"{src}: shape {tuple(weights[src].shape)}, the target backbone needs {shape}"
            )
        else:
            out[name] = weights[src]
    if problems or not out:
        where = source if not isinstance(source, dict) else "the given weights"
        raise WeightsError(
            f"--init {where} does not fit {target.name}'s backbone:\n  "
            + "\n  ".join(problems or ["no backbone or encoder tensors"])
        )
    return out


def make_target_model(
    framework: str,
    num_classes: int,
    seed: int,
    init: str | os.PathLike | dict[str, np.ndarray] | None = None,
    image_shape: tuple[int, int, int] = (1, 8, 8),
    model_name: str = "classifier",
) -> Model:
    """Zoo classifier ``model_name`` (default "classifier"; any zoo factory taking
    ``num_classes``) for the target task: head freshly initialised from ``seed``, backbone
    from ``init`` when given."""
    model = create(
        model_name,
        framework=framework,
        seed=seed,
        num_classes=num_classes,
        image_shape=image_shape,
    )
    if init is not None:
        backbone_blocks(model.spec)  # a clear error for a model without a backbone
        weights = model.get_weights()
        weights.update(backbone_weights(init, model.spec))
        model.set_weights(weights)
    return model


def accuracy(model: Model, data: D.Dataset) -> float:
    return float((model.predict(data.x, batch_size=512).argmax(axis=1) == data.y).mean())


def fine_tune(
    model: Model,
    train: D.Dataset,
    policy: str,
    k: float,
    steps: int,
    seed: int,
    lr_mult: dict[tuple[str, int], float] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``train`` under ``policy`` (resolved for k); batch ≤ 64."""
    from triptych.model import default_recipe

    concrete = resolve_policy(policy, k)
    recipe = default_recipe(model.spec).with_(batch=min(64, len(train)))
    mult = dict(lr_mult or {})
    if policy == "auto" and AUTO_LR_MULT != 1.0:
        for block in backbone_blocks(model.spec):
            for i in block:
                mult.setdefault(("backbone", i), AUTO_LR_MULT)
    frozen = frozen_layers(model.spec, concrete)
    history = model.fit(
        train,
        steps=steps,
        recipe=recipe,
        progress=False,
        seed=seed,
        frozen=frozen,
        lr_mult=expand_lr_mult(model.spec, mult),
    )
    return {"policy": concrete, "frozen": sorted(frozen), "final_loss": history.last("loss", 10)}


def class_range(text: str) -> list[int]:
    """``"0-4"`` or ``"5,7,9"`` -> class list; an empty filter is an error."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = (int(v) for v in part.split("-", 1))
            if b < a:
                raise ValueError(f"--classes: empty range {part!r} (start > end)")
            out.extend(range(a, b + 1))
        else:
            out.append(int(part))
    if not out:
        raise ValueError(f"--classes: empty class filter {text!r}; give e.g. 0-4 or 5,7,9")
    return out
