"""The networks' compute precision: a scope in which layers are built with a Keras dtype policy.

Weights stay float32 under every policy; DDVO, geometry and the losses always run in float32.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import keras

PRECISIONS = {"float32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@contextlib.contextmanager
def dtype_policy(precision: str = "float32") -> Iterator[None]:
    """Layers built inside take the policy of ``precision`` (``float32``, ``bf16``: bfloat16
    compute with float32 weights, ``fp16``: float16 compute); the global policy is restored after,
    so other models of the process are unaffected.  The networks' output layers stay float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
