"""The networks' precision scope (ddvo_tf/learning/precision.py): layers built inside take the policy,
the global one comes back afterwards (even after an error), and unknown names are refused."""
import keras
import pytest

from ddvo_tf.learning.precision import dtype_policy


def test_the_policy_holds_inside_only():
    before = keras.config.dtype_policy().name
    with dtype_policy("bf16"):
        inside = keras.layers.Dense(2)
    assert inside.compute_dtype == "bfloat16" and inside.dtype_policy.variable_dtype == "float32"
    assert keras.config.dtype_policy().name == before
    with pytest.raises(RuntimeError), dtype_policy("fp16"):
        raise RuntimeError("a failure inside")
    assert keras.config.dtype_policy().name == before


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"), dtype_policy("int8"):
        pass
