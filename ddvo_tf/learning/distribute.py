"""``tf.distribute`` for training: the strategy of ``--strategy``, who is chief, and device-based
defaults for XLA and mixed precision.

* ``default``: one device (the first GPU, else the CPU).
* ``mirrored``: synchronous data parallelism over the GPUs of this host (``MirroredStrategy``); on a
  machine without GPUs, over the logical CPU devices ``split_cpu`` made (tests, debugging), else
  the one CPU.
* ``multi_worker``: ``MultiWorkerMirroredStrategy`` across hosts, each started with the same flags
  and its own ``TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}``).
  Worker 0 (or the ``chief`` task) is the chief: it alone writes checkpoints, TensorBoard, the
  SavedModel and pictures; the others write their checkpoints to a scratch folder deleted at the end
  (every worker must take part in a save).
"""
from __future__ import annotations

import json
import os

import tensorflow as tf


class DistributeError(Exception):
    """A strategy that cannot be set up as asked: the message says how to configure it."""


def split_cpu(count: int) -> None:
    """Present the CPU as ``count`` logical devices; must run before TensorFlow touches a device."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:
        raise DistributeError(f"cannot split the CPU into {count} devices after TensorFlow initialised "
                              f"its devices ({error}); do it first thing in the process") from None


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(cpus)
    if name == "multi_worker":
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise DistributeError("--strategy=multi_worker needs TF_CONFIG on every host, e.g. "
                                  '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                                  '"task": {"type": "worker", "index": 0}}')
        try:
            json.loads(config)
        except ValueError as error:
            raise DistributeError(f"TF_CONFIG is not valid JSON ({error}): {config!r}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise DistributeError(f"unknown strategy {name!r}: default, mirrored or multi_worker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_id(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "chief"
    return f"{resolver.task_type}_{resolver.task_id}"


def auto_jit_compile() -> bool:
    """XLA for the train step: on with a GPU (fused elementwise work, the usual win there), off on
    a CPU, where it measured slower for this model (BUILD_NOTES.md)."""
    return bool(tf.config.list_physical_devices("GPU"))


def auto_precision() -> str:
    """bf16 on GPUs with bfloat16 tensor cores (compute capability >= 8), fp16 on 7.x, float32
    otherwise.  CPUs stay float32: bf16 is fast only on CPUs with AVX-512 BF16 or AMX (about 1.6x
    on the one of BUILD_NOTES.md) and emulated, slow, elsewhere, so there it is opt-in."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "float32"
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
    if capability >= (8, 0):
        return "bf16"
    return "fp16" if capability >= (7, 0) else "float32"
