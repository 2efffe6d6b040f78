"""JAX set-up: ``import jax`` on the CPU with float64 available.

* ``jax_enable_x64``: the float64 builds (the parity oracle, `triptych.frameworks.base.DTYPES`)
  need it; without it JAX silently computes float64 arrays in float32. Every array this
  backend makes names its dtype, so the float32 builds are unaffected by the flag (it only
  changes JAX's *default* dtypes).
* ``jax_platforms = "cpu"``: triptych drives JAX on the CPU (`FrameworkInfo.gpu` is False);
  it also silences jaxlib's probe for GPU plugins.
* XLA's CPU thread pool is sized when the backend first starts, from the CPUs the process
  may use (`triptych.frameworks.jax.runtime.set_threads` explains the limit).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# isort: split
import jax
import jax.numpy as jnp
from jax import lax

jax.config.update("jax_enable_x64", True)

__all__ = ["jax", "jnp", "lax"]
