"""triptych's Adam: PyTorch's formula, the same in every backend.

Per parameter p with gradient g, first/second moments m, v (float32, zeros at first) and a
step count t (1 at the first update)::

    m = m * b1 + g * (1 - b1)
    v = v * b2 + (g * g) * (1 - b2)
    bias1 = 1 - b1**t;  bias2 = 1 - b2**t              (float64 scalars)
    denom = sqrt(v) / sqrt(bias2) + eps
    p = p - (m / denom) * (lr / bias1)

Scalars (b1, 1 - b1, sqrt(bias2), lr / bias1, eps) are computed in float64 and rounded
once to float32, as ``torch.optim.Adam(foreach=False)`` does. A parameter without a gradient
in a step keeps its m, v and t. TensorFlow and Sonnet write it out op by op inside the step's
``tf.function``; PyTorch runs the same ops once over all parameters (``torch._foreach_*``,
bitwise the per-parameter ops); MXNet runs its fused ``adam_update`` kernel with these
scalars folded in (``lr' = step size * sqrt(bias2)``, ``eps' = eps * sqrt(bias2)``, corrected
for the kernel's float32 ``1 - b``; see `triptych.frameworks.mxnet.train.TriptychAdam`):
within float32 rounding of the formula, not bitwise. The frameworks' own Adams
(``Optimizer("adam_native")``) place eps differently (Keras, MXNet) and drift apart; see
benchmarks/adam.md.

Optimizer state is a flat ``dict[str, np.ndarray]`` with fixed names (safetensors-ready):
``step`` (int64, one count per parameter, in the optimizer's parameter order),
``exp_avg.NNNN`` and ``exp_avg_sq.NNNN`` (float32, the parameter's shape).
"""

from __future__ import annotations

import math

import numpy as np

STEP = "step"


def m_name(i: int) -> str:
    """Name of parameter ``i``'s first moment in a state dict."""
    return f"exp_avg.{i:04d}"


def v_name(i: int) -> str:
    """Name of parameter ``i``'s second moment in a state dict."""
    return f"exp_avg_sq.{i:04d}"


def scalars(lr: float, b1: float, b2: float, t: int) -> tuple[float, float]:
    """(step size ``lr / (1 - b1**t)``, ``sqrt(1 - b2**t)``) in float64, for step ``t``."""
    return lr / (1.0 - b1**t), math.sqrt(1.0 - b2**t)


def check_state(state: dict[str, np.ndarray], shapes: list[tuple[int, ...]]) -> None:
    """Raise ValueError (one line) unless ``state`` holds exactly ``step`` (int64, one per
    parameter) and ``exp_avg``/``exp_avg_sq`` of ``shapes``, all float32 (a float32 model's)
    or all float64 (a float64 build's)."""
    expected = {STEP: (len(shapes),)}
    for i, shape in enumerate(shapes):
        expected[m_name(i)] = tuple(shape)
        expected[v_name(i)] = tuple(shape)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(
            f"Adam state does not fit the optimizer: missing {missing[:3]}, unexpected "
            f"{extra[:3]} ({len(shapes)} parameters expected)"
        )
    first = state[m_name(0)].dtype if shapes else np.dtype(np.float32)
    precision = np.float64 if first == np.float64 else np.float32  # the first moment's
    for name, shape in expected.items():
        arr = state[name]
        want = np.int64 if name == STEP else precision
        if arr.dtype != want or tuple(arr.shape) != shape:
            raise ValueError(
                f"Adam state {name}: {arr.dtype}{tuple(arr.shape)}, expected "
                f"{np.dtype(want)}{shape}"
            )
    if (state[STEP] < 0).any():
        raise ValueError("Adam state step: negative step count")


def reference_update(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The formula above in numpy float32, for tests: (new p, new m, new v) at step ``t``."""
    f = np.float32
    b1, b2 = betas
    m = m * f(b1) + g * f(1 - b1)
    v = v * f(b2) + (g * g) * f(1 - b2)
    step_size, bias2_sqrt = scalars(lr, b1, b2, t)
    denom = np.sqrt(v) / f(bias2_sqrt) + f(eps)
    return p - (m / denom) * f(step_size), m, v
