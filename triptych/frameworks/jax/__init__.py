"""The JAX backend: the modules build, train, export, runtime, distributed and speed, with
the same names in every backend folder. The registry (`triptych.frameworks.base`) adapts them
into one Backend; nothing here is imported until the framework is first used.

A network is a pure function of ``(params, state, x)`` (`build.JaxNet.apply`) written with
``jax.numpy``/``jax.lax``; its parameters are a flat dict of arrays in the canonical (PyTorch)
layout, so weights go in and out unchanged. Training steps are ``jax.jit``-compiled with
optax transformations (`optim`)."""
