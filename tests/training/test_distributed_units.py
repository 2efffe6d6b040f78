"""Data-parallel pieces that start no process: sharding, thread share, job JSON, refusals
(uneven shards, GANs, a resume with another global batch, --sync-bn where the engine has
none)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from triptych.common import spec as S
from triptych.common.recipe import Optimizer, Recipe
from triptych.frameworks.base import FRAMEWORKS, get_backend, unavailable_reason
from triptych.training import distributed as DP


class _SumDist:
    """A fake engine for one worker of two: 'all-reduce' doubles the value."""

    def allreduce_sum(self, v: float) -> float:
        return 2 * v


def test_shard_step_takes_rows_rank_of_world_and_averages() -> None:
    seen = {}

    def inner(x: np.ndarray, y: np.ndarray) -> float:
        seen["x"], seen["y"] = x, y
        return 3.0

    step = DP.ShardStep(inner, rank=1, world=2, dist=_SumDist())
    x, y = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    assert step(x, y) == 3.0  # mean over the workers of a loss each worker saw as 3.0
    np.testing.assert_array_equal(seen["x"], x[1::2])
    np.testing.assert_array_equal(seen["y"], y[1::2])


def test_shard_step_passes_none_and_averages_dicts() -> None:
    step = DP.ShardStep(lambda x, t, w: {"loss": 1.0, "rec": 2.0}, 0, 2, _SumDist())
    assert step(np.zeros((4, 1)), np.zeros((4, 1)), None) == {"loss": 1.0, "rec": 2.0}


def test_thread_share_and_free_port() -> None:
    assert DP.thread_share(2, total=2) == 1
    assert DP.thread_share(4, total=2) == 1
    assert DP.thread_share(2, total=16) == 8
    assert 0 < DP.free_port() < 65536


def test_job_json_round_trip() -> None:
    job = DP.Job("torch", "{}", "{}", "digits", 0.2, 0, 3, 0, "/tmp/x", 2, 1, 30.0, "1:2")
    assert DP.Job.from_json(job.to_json()) == job


def test_refuses_uneven_shards_and_takes_every_recipe_kind() -> None:
    fw = next((f for f in ("torch", "mxnet") if unavailable_reason(f) is None), None)
    if fw is None:
        pytest.skip("neither torch nor mxnet is installed")
    recipe = Recipe(kind="supervised", batch=33, optimizer=Optimizer("sgd", 0.1))
    with pytest.raises(ValueError, match="does not split into 2 equal shards"):
        DP.check_supported(fw, recipe, 2)
    for kind in ("supervised", "reconstruction", "adversarial"):  # a GAN trains too now
        DP.check_supported(fw, recipe.with_(kind=kind, batch=32), 2)


def test_resume_skips_k_real_batches_a_step_when_a_discriminator_trains() -> None:
    from triptych.engine.loop import batches_used

    assert batches_used(Recipe(kind="supervised"), 7) == 7
    assert batches_used(Recipe(kind="adversarial", k=3), 7) == 21
    assert batches_used(Recipe(hole=0.5, adv_weight=0.001, k=2), 7) == 14


def test_every_backend_has_a_distributed_module() -> None:
    for fw in FRAMEWORKS:
        if unavailable_reason(fw) is not None:
            continue
        mod = get_backend(fw).distributed
        for name in (
            "UNSUPPORTED",
            "ENGINE",
            "HELPER_ARGV",
            "processes",
            "init",
            "attach",
            "SYNC_BN",
            "SYNC_BN_UNSUPPORTED",
            "sync_batchnorm",
            "time_allreduce",
        ):
            assert hasattr(mod, name), (fw, name)


def test_tensorflow_workers_get_one_tf_config_each() -> None:
    if unavailable_reason("tensorflow") is not None:
        pytest.skip("tensorflow is not installed")
    procs = get_backend("tensorflow").distributed.processes(2, DP.free_port())
    configs = [json.loads(env["TF_CONFIG"]) for _, env, worker in procs if worker]
    assert [c["task"]["index"] for c in configs] == [0, 1]
    hosts = configs[0]["cluster"]["worker"]
    assert len(set(hosts)) == 2 and all(h.startswith("127.0.0.1:") for h in hosts)


def test_resume_refuses_another_global_batch_before_starting(tmp_path) -> None:
    if unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed")
    from triptych.common import data as D
    from triptych.engine.loop import fit
    from triptych.model import Model, default_recipe, resolve_spec

    spec = resolve_spec("autoencoder")
    recipe = default_recipe(spec).with_(optimizer=Optimizer("sgd", 0.1), batch=16)
    train_set, _ = D.load_train_test("digits", recipe.scale, 0.2, 0)
    fit(Model(spec, "torch", seed=0), train_set, recipe, 1, progress=False, out_dir=tmp_path)
    with pytest.raises(ValueError, match="batch 16, this run asks for 32"):
        DP.train_workers(Model(spec, "torch", seed=0), recipe.with_(batch=32), 2,
                         data="digits", seed=0, run_dir=tmp_path, workers=2, resume=True,
                         test_fraction=0.2, split_seed=0)  # fmt: skip
    assert not (tmp_path / "workers").exists()  # refused before any process started


def test_sync_bn_refusals_name_the_engine() -> None:
    for fw in FRAMEWORKS:
        if unavailable_reason(fw) is not None:
            continue
        mod = get_backend(fw).distributed
        recipe = Recipe(kind="supervised", batch=32, optimizer=Optimizer("sgd", 0.1))
        if mod.UNSUPPORTED:  # no data parallelism at all: that reason comes first
            with pytest.raises(ValueError, match="needs MPI"):
                DP.check_supported(fw, recipe, 2, sync_bn=True)
        elif mod.SYNC_BN_UNSUPPORTED:
            with pytest.raises(ValueError, match=f"--sync-bn on {fw}: "):
                DP.check_supported(fw, recipe, 2, sync_bn=True)
        else:
            DP.check_supported(fw, recipe, 2, sync_bn=True)


def test_keras_optimizer_state_resumes_with_its_scalar_shapes(tmp_path) -> None:
    """Keras's own optimizers (the SGD of level 5) keep a 0-d ``iteration``: a checkpoint
    must give it back as 0-d, or no TensorFlow SGD run can resume (with any N)."""
    if unavailable_reason("tensorflow") is not None:
        pytest.skip("tensorflow is not installed")
    from triptych.common import data as D
    from triptych.engine.checkpoint import load_checkpoint
    from triptych.engine.loop import fit
    from triptych.engine.trainer import Trainer
    from triptych.model import Model, default_recipe, resolve_spec

    spec = resolve_spec("autoencoder")
    recipe = default_recipe(spec).with_(optimizer=Optimizer("sgd", 0.1), batch=16)
    train_set, _ = D.load_train_test("digits", recipe.scale, 0.2, 0)
    fit(Model(spec, "tensorflow", seed=0), train_set, recipe, 2, progress=False,
        out_dir=tmp_path)  # fmt: skip
    trainer = Trainer(Model(spec, "tensorflow", seed=0), recipe)
    step, _, _ = load_checkpoint(tmp_path, trainer.model, trainer.steps)
    state = trainer.steps["g"].state()
    assert step == 2 and any(v.ndim == 0 and int(v) == 2 for v in state.values()), state


def test_level5_data_has_the_images_the_model_takes(tmp_path) -> None:
    """Level 5 trains on the bundled digits at the model's input shape: the 3x32x32
    ResNet-18 gets them resized and repeated over 3 channels (before, its workers were fed
    1x8x8 digits and crashed in every framework); an input that is no image is refused."""
    from triptych.common import data as D
    from triptych.common import zoo
    from triptych.verify.data_parallel import level5_data

    assert level5_data(zoo.create_spec("classifier"), tmp_path) == "digits"
    path = level5_data(zoo.create_spec("resnet18"), tmp_path)
    train, test = D.load_train_test(path, "unit", 0.2, 0)
    assert train.x.shape[1:] == (3, 32, 32) and len(train.x) + len(test.x) == 1797
    assert float(train.x.min()) >= 0.0 and float(train.x.max()) <= 1.0
    assert np.array_equal(train.x[:, 0], train.x[:, 2])  # the same digit in every channel
    assert level5_data(zoo.create_spec("vit_tiny"), tmp_path) == "digits28"
    assert level5_data(zoo.create_spec("gan"), tmp_path) == "digits"  # its images, not z
    ids = S.Input((7,), dtype="int64")
    tokens = S.Embedding(5, 4)(ids)
    text = S.Network("t", inputs=ids, outputs=S.Dense(3)(S.ReduceMean((0,), False)(tokens)))
    with pytest.raises(ValueError, match=r"input \(7,\) is not an image"):
        level5_data(S.single(text, "text"), tmp_path)
