"""One benchmark cell, run in its own process: ``python -m triptych.bench.worker`` reads the
cell as JSON on stdin and prints one JSON result line. The thread budget is set before any
framework is imported (OpenMP/MKL/OpenBLAS env, torch/TF/MXNet threads, ORT intra-op).

The first call is timed apart (``first_call_s``: it holds XLA / hybridize / graph compilation
where the variant compiles), then warm-up calls, then the timed repeats: all ``repeats``, or
with ``max_seconds`` as many as fit in that time (at least `MIN_REPEATS`); the result says how
many ran. A cell that cannot run as asked reports ``status: skipped`` with the reason."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.bench.cell import Cell
from triptych.bench.provenance import SelfMeter
from triptych.common import spec as S
from triptych.common import zoo_scale
from triptych.common.recipe import Optimizer
from triptych.export.ort import make_session
from triptych.model import Model, create

MIN_REPEATS = 2
#: environment variables each result records as they were when the cell ran (the thread
#: budget, OpenMP's wait policy, MXNet's oneDNN switch)
ENV_RECORDED = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MXNET_MKLDNN_ENABLED",
    "MXNET_ONEDNN_ENABLED",
    "TF_ENABLE_ONEDNN_OPTS",
)
#: the name of the network a GAN's adversarial train step trains against its generator
DISCRIMINATOR = "discriminator"


class Skip(Exception):
    """The cell cannot run as asked; the message says why (it goes into the table)."""


def limit_threads(n: int) -> None:
    """The thread budget ``n`` for every runtime, set before any framework is imported."""
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MXNET_CPU_WORKER_NTHREADS",
    ):
        os.environ[var] = str(n)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # OpenMP threads wait passively (sleep, not spin) unless the caller says otherwise: on a
    # machine shared with other jobs a spinning 2-thread OpenMP runtime waits for a thread
    # that is not scheduled at every barrier (measured: the 28x28 GAN step in PyTorch, load
    # average 8 on 2 cores, 1.4 s spinning vs 0.1 s passive)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")


def _tuned_infer(model: Model, x: np.ndarray) -> Callable[[], Any]:
    """The framework's recommended inference speed options on the main chain."""
    return model.backend.fast_infer(model.built_chain(), x)


def _ort_fn(
    model: Model, x: np.ndarray, cell: Cell, tmp: str, extra: dict[str, Any]
) -> Callable[[], Any]:
    """The framework's ONNX export of each main-chain network, chained through ORT sessions
    (``extra["ort_provider"]``: the provider that really runs)."""
    paths = model.export_onnx(
        tmp,
        networks=model.spec.main_chain,
        exporter=model.backend.fast_exporter,
    )
    sessions = [
        make_session(
            paths[n],
            provider="auto",
            threads=cell.threads,
            opt_level="all" if cell.variant == "tuned" else "basic",
            spinning=False,  # idle pool threads sleep, as OpenMP's do here (`limit_threads`)
        )
        for n in model.spec.main_chain
    ]
    names = [s.get_inputs()[0].name for s in sessions]
    extra["ort_provider"] = sessions[0].get_providers()[0]

    def run() -> Any:
        h = x
        for s, name in zip(sessions, names, strict=True):
            h = s.run(None, {name: h})[0]
        return h

    return run


def _train_fn(model: Model, x: np.ndarray, cell: Cell) -> Callable[[], Any]:
    target = np.random.default_rng(1).random(
        (cell.batch, *model.spec.output_shape), dtype=np.float32
    )
    if cell.device != "cpu":  # the batch lives on the GPU, as a GPU input pipeline leaves it
        speed = model.backend.speed
        x, target = speed.device_tensor(x, cell.device), speed.device_tensor(target, cell.device)
    step = model.backend.train.make_trainer(
        model.built_chain(),
        "mse",
        Optimizer("adam", 1e-4),
        tuned=cell.variant == "tuned",
    )
    return lambda: step(x, target)


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: ``VmHWM`` of /proc/self/status (the high-water
    mark of this address space, reset by exec), else ``ru_maxrss``, which Linux carries over
    from the parent through fork + exec (a 1 GiB parent made every cell report >= 1 GiB)."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def is_adversarial(spec: S.ModelSpec) -> bool:
    """A GAN: its train cell runs the adversarial D + G step."""
    return DISCRIMINATOR in spec.networks and DISCRIMINATOR not in spec.main_chain


def _adversarial_fn(model: Model, z: np.ndarray, cell: Cell) -> Callable[[], Any]:
    """One D step (a real batch and G(z) in train mode) then one G step through D, with the
    DCGAN optimizer (Adam 2e-4, betas 0.5/0.999), as `triptych.engine.loop` runs them."""
    if cell.variant == "tuned":
        raise Skip("no tuned adversarial step: the backends' D/G steps take no speed options")
    train = model.backend.train
    opt = Optimizer("adam", 2e-4, (0.5, 0.999))
    gen = [n for n in model.spec.main_chain if n != DISCRIMINATOR]
    disc = model.built(DISCRIMINATOR)
    d_step = train.make_discriminator_step(disc, opt)
    g_step = train.make_generator_step(
        model.built_chain(gen), opt, rec_weight=0.0, disc=disc, adv_weight=1.0
    )
    real_shape = model.spec.networks[DISCRIMINATOR].input_shape
    real = np.random.default_rng(1).uniform(-1, 1, (cell.batch, *real_shape)).astype(np.float32)
    if cell.device != "cpu":
        speed = model.backend.speed
        real, z = speed.device_tensor(real, cell.device), speed.device_tensor(z, cell.device)
        chain = model.built_chain(gen)

        def generate(h: Any) -> Any:
            return speed.forward_native(chain, h, training=True)
    else:

        def generate(h: Any) -> Any:
            for name in gen:
                h = model.forward(h, name, training=True)
            return h

    def step() -> Any:
        d_step(real, generate(z))
        return g_step(z)

    return step


def adversarial_flops_per_sample(spec: S.ModelSpec) -> int:
    """FLOPs of one D + G iteration per sample, by the 3x rule: D step = G forward + (D forward
    + backward) on the real and the fake batch; G step = (G + D) forward + backward."""
    g = sum(spec.networks[n].flops for n in spec.main_chain)
    d = spec.networks[DISCRIMINATOR].flops
    return g + 2 * 3 * d + 3 * (g + d)


def cell_flops(spec: S.ModelSpec, cell: Cell) -> int:
    """FLOPs of one call of the cell: forward of the main chain × batch; training 3× (forward
    + backward for data and weights); a GAN's train step `adversarial_flops_per_sample`."""
    if cell.mode == "train" and is_adversarial(spec):
        return adversarial_flops_per_sample(spec) * cell.batch
    flops = sum(spec.networks[n].flops for n in spec.main_chain) * cell.batch
    return 3 * flops if cell.mode == "train" else flops


def time_calls(fn: Callable[[], Any], cell: Cell) -> tuple[float, list[float], dict[str, float]]:
    """(first call's seconds, timed repeats' seconds, the cores others used meanwhile):
    warm-up calls after the first one only while they are cheap (the first took under a
    tenth of ``max_seconds``); repeats until ``repeats`` or, with ``max_seconds``, until
    that much time is spent (at least `MIN_REPEATS`)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    cap = cell.max_seconds
    if cap is None or first < cap / 10:
        for _ in range(max(cell.warmup - 1, 0)):
            fn()
    samples: list[float] = []
    spent = 0.0
    meter = SelfMeter().start()
    while len(samples) < cell.repeats:
        if cap is not None and spent >= cap and len(samples) >= MIN_REPEATS:
            break
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        spent += samples[-1]
    return first, samples, meter.read()


def _place(model: Model, cell: Cell) -> dict[str, Any]:
    """Move the model to the cell's device for the native modes (an ORT cell runs the exported
    file; its modules stay where they were built); the facts the result records. `Skip` for
    a backend that runs on the CPU only."""
    if cell.device == "cpu":
        return {}
    speed = model.backend.speed
    if not hasattr(speed, "to_device"):
        raise Skip(f"{model.backend.info.display} runs on the CPU only in triptych")
    if cell.mode != "ort":
        speed.to_device(model.built_chain(list(model.spec.networks)), cell.device)
    return {"device": cell.device, "device_name": speed.device_name(cell.device)}


def _native_infer(model: Model, x: np.ndarray, cell: Cell) -> Callable[[], Any]:
    """Eval-mode forward of the main chain: the framework's tuned path, or the default one
    (`Model.predict`; on a GPU the backend's eager forward there)."""
    if cell.variant == "tuned":
        if cell.device != "cpu":
            return model.backend.speed.fast_infer(model.built_chain(), x, device=cell.device)
        return _tuned_infer(model, x)
    if cell.device != "cpu":
        return model.backend.speed.device_infer(model.built_chain(), x, cell.device)
    return lambda: model.predict(x)


def _input(spec: S.ModelSpec, batch: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    if len(spec.input_shape) == 3:
        return rng.random((batch, *spec.input_shape), dtype=np.float32)
    return rng.standard_normal((batch, *spec.input_shape)).astype(np.float32)


def run_cell(cell: Cell) -> dict[str, Any]:
    limit_threads(cell.threads)
    spec = zoo_scale.create_spec(cell.model, **cell.options.kwargs())
    t_setup = time.perf_counter()
    model = create(spec, framework=cell.framework, seed=0)
    model.backend.set_threads(cell.threads)
    x = _input(spec, cell.batch)
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            extra.update(_place(model, cell))
            if cell.mode == "train" and is_adversarial(spec):
                fn = _adversarial_fn(model, x, cell)
            elif cell.mode == "train":
                fn = _train_fn(model, x, cell)
            elif cell.mode == "ort":
                fn = _ort_fn(model, x, cell, tmp, extra)
            else:
                fn = _native_infer(model, x, cell)
        except Skip as why:
            return {"cell": json.loads(cell.to_json()), "status": "skipped", "error": str(why)}
        setup = time.perf_counter() - t_setup
        first, samples, timed_window = time_calls(fn, cell)
    flops = cell_flops(spec, cell)
    median = float(np.median(samples))
    q1, q3 = (float(v) for v in np.percentile(samples, [25, 75]))
    gflops = flops / median / 1e9
    return {
        "cell": json.loads(cell.to_json()),
        "status": "ok",
        "samples_s": samples,
        "repeats_run": len(samples),
        "setup_s": setup,
        "first_call_s": first,
        "median_s": median,
        "iqr_s": q3 - q1,
        "p50_ms": median * 1000,
        "p90_ms": float(np.percentile(samples, 90)) * 1000,
        "p99_ms": float(np.percentile(samples, 99)) * 1000,
        "samples_per_s": cell.batch / median,
        "flops": flops,
        "flops_per_sample": flops / cell.batch,
        "gflops": gflops,
        "fraction_of_peak": gflops / cell.peak_gflops if cell.peak_gflops else None,
        "peak_rss_mib": peak_rss_mib(),
        "device_peak_mib": _device_peak_mib(model, cell),
        "version": model.backend.version(),
        "env": {k: os.environ.get(k) for k in ENV_RECORDED if k in os.environ},
        "timed_window": timed_window,
        **extra,
    }


def _device_peak_mib(model: Model, cell: Cell) -> float | None:
    """The GPU memory the framework's allocator held at most during the cell, MiB (None on
    the CPU and for ORT cells)."""
    if cell.device == "cpu" or cell.mode == "ort":
        return None
    return model.backend.speed.peak_memory_mib(cell.device)


def main() -> int:
    cell = Cell.from_json(sys.stdin.read())
    result = run_cell(cell)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
