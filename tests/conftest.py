"""Shared fixtures. ``framework`` / ``framework_pair`` come from triptych's own pytest plugin
(the registry, absent frameworks skipped with their reason); these aliases keep names short."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two xdist workers share two cores, each framework with 2 threads: OpenMP threads that spin
# at barriers wait for a descheduled sibling (the bench worker sets the same; the numbers do
# not change, only how idle threads wait).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


#: thread-count variables the frameworks read at import: torch/MXNet (OpenMP), numpy and
#: Chainer (BLAS), TensorFlow (its own pools)
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def pytest_configure(config: pytest.Config) -> None:
    """Under ``-n N``, each xdist worker's frameworks get cores // N threads (the workers,
    spawned after this, inherit the variables; ones already set are kept): two workers with
    two threads each on two cores ran the GAN's default-recipe tests 10 % slower (96.8 vs
    87.3 s) than with one thread each. onnxruntime sessions keep their own defaults."""
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 1 and "PYTEST_XDIST_WORKER" not in os.environ:
        per_worker = str(max(1, (os.cpu_count() or 1) // workers))
        for var in THREAD_VARS:
            os.environ.setdefault(var, per_worker)


@pytest.fixture
def framework(triptych_framework: str) -> str:
    return triptych_framework


@pytest.fixture
def framework_pair(triptych_framework_pair: tuple[str, str]) -> tuple[str, str]:
    return triptych_framework_pair


def _shares_state(module: object) -> bool:
    """Whether a test module keeps state for its tests: a module-level cache (a model
    trained once, read by several tests)."""
    source = getattr(module, "__file__", None)
    if not source:
        return False
    with open(source, encoding="utf-8") as f:
        text = f.read()
    return "functools.cache" in text or "lru_cache" in text


#: single cases of a per-framework test that go to the sweep tier (`make test-sweep`, which CI
#: also runs) to keep ``make test`` under 15 minutes on 2 cores: the GAN's default recipe
#: trained to FD/10 takes 38 s in JAX (its compile) and 33 s in Chainer (numpy), 15-22 s
#: elsewhere; a SIGKILL at every checkpoint write boundary 39 s; the planted 1 % learning-rate
#: slip caught in ResNet-18 27 s; export + parity of ViT-tiny 25 s and of the U-Net 20 s (as
#: ResNet-18's and MobileNetV2's already are) (one `make test --durations` run, 2 cores);
#: then (2026-12-07, make test at 14:32 here and 15:00 in CI) export + parity of the MAE
#: 27 s, docs/benchmarks.md's example 24 s (its GEMM peak), the GAN's MXNet 22 s and Sonnet
#: 16 s cases; then (make test 14:59 with attention dropout and the Einsum importer) the
#: context encoder's (26 s) and conv AE's (19 s) final-loss agreement across frameworks
SWEEP_CASES = {
    "tests/commands/zoo/test_zoo_export_parity.py::test_export_then_parity[vit_tiny]",
    "tests/commands/zoo/test_zoo_export_parity.py::test_export_then_parity[unet]",
    "tests/commands/zoo/test_zoo_export_parity.py::test_export_then_parity[vit_mae]",
    "tests/docs/test_doc_examples.py::test_page_examples_run[docs/benchmarks.md]",
    "tests/training/test_gan.py::test_default_training_lowers_fd_digits_tenfold[mxnet]",
    "tests/training/test_gan.py::test_default_training_lowers_fd_digits_tenfold[sonnet]",
    "tests/training/test_autoencoders.py::test_final_losses_agree_across_frameworks[context_encoder]",
    "tests/training/test_autoencoders.py::test_final_losses_agree_across_frameworks[conv_autoencoder]",
    "tests/training/test_gan.py::test_default_training_lowers_fd_digits_tenfold[jax]",
    "tests/training/test_gan.py::test_default_training_lowers_fd_digits_tenfold[chainer]",
    "tests/engine/test_checkpoint.py::test_kill_at_every_write_boundary_resumes_or_refuses_cleanly",
    "tests/verify/test_planted_bugs.py::test_a_1_percent_learning_rate_slip_is_caught_in_resnet18",
}


#: sweep-tier tests that each take several GB (measured 2026-12-07 by sampling MemAvailable
#: every second through a whole `make test-sweep`: ResNet-18's parity at default flags 7.6
#: and 10.6 GB, the sgd and adam cases side by side leaving 0.9 GB of 24; torchvision's
#: VGG/wide ResNets about 7 GB; a later sweep had the kernel kill an xdist worker at 12.7
#: GB). They share one xdist group, so they run one after another on one worker while the
#: other takes the light tests; the Ray tests join them, whose workers Ray kills when the
#: machine passes 95 % of its memory.
MEMORY_HEAVY = (
    "tests/verify/test_zoo_parity_sweep.py::test_parity_with_default_flags_passes[resnet18-",
    "tests/verify/test_zoo_parity_sweep.py::test_parity_with_default_flags_passes[mobilenet_v2-",
    "tests/verify/test_zoo_parity_sweep.py::test_parity_with_default_flags_passes[unet-",
    "tests/verify/test_zoo_parity_sweep.py::test_mobilenet_v2_level5",
    "tests/onnx_import/test_torchvision_families.py::",
    "tests/training/test_distributed_ray.py::",
)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`SWEEP_CASES` are marked ``sweep``. Under ``-n 2 --dist loadgroup`` (``make test``)
    tests spread one by one over the
    workers, except a file whose tests share something built once (a module-scoped fixture:
    a tour, a server; or a module-level cache of trained models) stays on one worker, so it
    is built once. Spreading per test, not per file, keeps both cores busy to the end: the
    per-framework training tests of one file (the GAN's, five frameworks) no longer queue
    behind each other on one worker."""
    shared: dict[str, bool] = {}
    for item in items:
        if item.nodeid in SWEEP_CASES:
            item.add_marker(pytest.mark.sweep)
        path = item.nodeid.split("::", 1)[0]
        if path not in shared:
            shared[path] = _shares_state(getattr(item, "module", None))
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", {}) if info is not None else {}
        module_scoped = any(d and d[-1].scope == "module" for d in defs.values())
        if item.nodeid.startswith(MEMORY_HEAVY):
            item.add_marker(pytest.mark.xdist_group("memory_heavy"))
        elif module_scoped or shared[path]:
            item.add_marker(pytest.mark.xdist_group(path))
