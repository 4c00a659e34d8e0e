"""``tf.data`` reader of the clip shards written by ``python -m pipelines.build``.

Elements are dicts of batched tensors::

    frames         [B, 3, H, W, 3] float32 in [0, 1]; frames[:, 1] is the target I_2
    intrinsics     [B, 3, 3] float32 at H x W (``ddvo_tf.core.geometry`` conventions)
    drive, camera  [B] string;   frame_numbers [B, 3] int64

Augmentation keeps geometry consistent: a random up-scale by ``s`` in [1, max_scale] and crop back
to H x W (``K`` scaled exactly for the area-preserving resize, principal point shifted by the
crop), a horizontal flip (``cx <- W - 1 - cx``: with pixel centres at integers the mirror of
column ``u`` is ``W - 1 - u``), and one mild colour change (gamma, brightness, per-channel gain)
shared by the three frames so photometric consistency still holds.  Random numbers are stateless
functions of ``(seed, element index)``, so a seeded pipeline is exactly reproducible.

TensorFlow's own error for a damaged shard ("corrupted record at 1028") does not say which file;
:func:`make_dataset` compares shard sizes with the manifest up front, and :func:`find_corrupt_shards`
scans the shards to name the damaged one when a read fails later.
"""
from __future__ import annotations

import json
import os
import random

import tensorflow as tf

from ddvo_tf.data import records
from ddvo_tf.core import geometry


class DatasetError(Exception):
    """A dataset folder that cannot be read as built: the message names the file and the fix."""


def load_manifest(data_dir: str) -> dict:
    path = os.path.join(data_dir, "manifest.json")
    if not os.path.isfile(path):
        raise DatasetError(f"{path} does not exist: {data_dir} is not a finished build; run "
                           "`python -m pipelines.build ... --output_dir=" + data_dir + "` (it resumes)")
    try:
        with open(path) as handle:
            manifest = json.load(handle)
        if not isinstance(manifest, dict):
            raise ValueError(f"a JSON {type(manifest).__name__}, not an object")
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path} is damaged ({error}); delete it and re-run the build into {data_dir}: "
                           "it re-checks the shards and writes the manifest again") from None
    if manifest.get("schema_version") != records.SCHEMA_VERSION:
        raise DatasetError(f"{path}: schema version {manifest.get('schema_version')} but this code reads "
                           f"{records.SCHEMA_VERSION}; rebuild the dataset")
    return manifest


def shard_files(data_dir: str, split: str = "train", manifest: dict | None = None) -> list[str]:
    """The split's shard files, checked against the sizes the manifest recorded."""
    manifest = manifest or load_manifest(data_dir)
    if split not in manifest["shards"]:
        raise DatasetError(f"{data_dir}: no split {split!r} (have {sorted(manifest['shards'])})")
    files = []
    for shard in manifest["shards"][split]:
        path = os.path.join(data_dir, shard["file"])
        if not os.path.isfile(path):
            raise DatasetError(f"{path}: shard missing; re-run the build into {data_dir} to rewrite it")
        size = os.path.getsize(path)
        if size != shard["bytes"]:
            raise DatasetError(f"{path}: shard is {size} bytes but the manifest says {shard['bytes']} "
                               "(truncated or overwritten); delete it and its .shards/ record and "
                               "re-run the build to rewrite it")
        if shard["clips"]:
            files.append(path)
    if not files:
        raise DatasetError(f"{data_dir}: split {split!r} has no clips")
    return files


def find_corrupt_shards(files: list[str]) -> list[tuple[str, str]]:
    """``(file, error)`` for every shard whose records fail their checksums (reads all data)."""
    bad = []
    for path in files:
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except tf.errors.DataLossError as error:
            bad.append((path, error.message.strip().splitlines()[-1]))
    return bad


def explain_data_loss(files: list[str]) -> DatasetError:
    """A :class:`DatasetError` naming the damaged shards (call when reading raised DataLossError)."""
    bad = find_corrupt_shards(files)
    if not bad:
        return DatasetError("a shard failed to read but none is damaged on re-reading: check the disk")
    names = "; ".join(f"{path} ({error})" for path, error in bad)
    return DatasetError(f"damaged shard(s): {names}. Delete them and their .shards/ records and "
                        "re-run the build to rewrite them")


def _augment(element: dict, seed: tf.Tensor, max_scale: float, flip: bool, color: bool) -> dict:
    frames, intrinsics = element["frames"], element["intrinsics"]
    height, width = frames.shape[1], frames.shape[2]
    seeds = tf.random.experimental.stateless_split(seed, 6)
    scale = tf.random.stateless_uniform([], seeds[0], 1.0, max_scale)
    new_h = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), height)
    new_w = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), width)
    frames = tf.image.resize(frames, tf.stack([new_h, new_w]), antialias=False)
    intrinsics = geometry.resize_intrinsics(intrinsics, tf.cast(new_w, tf.float32) / width,
                                            tf.cast(new_h, tf.float32) / height)
    y0 = tf.random.stateless_uniform([], seeds[1], 0, new_h - height + 1, tf.int32)
    x0 = tf.random.stateless_uniform([], seeds[2], 0, new_w - width + 1, tf.int32)
    frames = frames[:, y0:y0 + height, x0:x0 + width]
    shift = tf.stack([tf.cast(x0, tf.float32), tf.cast(y0, tf.float32), 0.0])
    intrinsics = intrinsics - tf.concat([tf.zeros([3, 2]), shift[:, None]], axis=1)
    if flip:
        do_flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
        frames = tf.cond(do_flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)
        flipped = tf.tensor_scatter_nd_update(intrinsics, [[0, 2]], [width - 1.0 - intrinsics[0, 2]])
        intrinsics = tf.cond(do_flip, lambda: flipped, lambda: intrinsics)
    if color:
        gamma = tf.random.stateless_uniform([], seeds[4], 0.85, 1.15)
        gains = tf.random.stateless_uniform([3], seeds[5], 0.92, 1.08) * \
            tf.random.stateless_uniform([], tf.reverse(seeds[5], [0]), 0.85, 1.15)
        frames = tf.clip_by_value(tf.clip_by_value(frames, 0.0, 1.0) ** gamma * gains, 0.0, 1.0)
    frames = tf.ensure_shape(frames, [records.CLIP_LENGTH, height, width, 3])
    return {**element, "frames": frames, "intrinsics": intrinsics}


def _resize(element: dict, height: int, width: int) -> dict:
    frames = element["frames"]
    old_h, old_w = frames.shape[1], frames.shape[2]
    if (old_h, old_w) == (height, width):
        return element
    frames = tf.image.resize(frames, [height, width], method="area")
    intrinsics = geometry.resize_intrinsics(element["intrinsics"], width / old_w, height / old_h)
    return {**element, "frames": frames, "intrinsics": intrinsics}


def make_dataset(data_dir: str, split: str = "train", batch_size: int = 4,
                 image_size: tuple[int, int] | None = None, augment: bool = True,
                 shuffle: bool = True, repeat: bool = True, seed: int | None = None,
                 deterministic: bool = False, max_scale: float = 1.15, flip: bool = True,
                 color: bool = True, shuffle_buffer: int = 1024, drop_remainder: bool = True,
                 num_shards: int = 1, shard_index: int = 0) -> tf.data.Dataset:
    """Batched clips from the build in ``data_dir``.

    ``image_size=(H, W)`` resizes (area) from the built size, updating ``K``.  ``deterministic``
    fixes file and element order and, with ``seed``, makes augmentation reproducible.
    ``num_shards``/``shard_index``: the disjoint part one input pipeline of a distributed run reads
    (whole shard files when there are enough of them, else every ``num_shards``-th clip).
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} outside 0..{num_shards - 1}")
    manifest = load_manifest(data_dir)
    files = shard_files(data_dir, split, manifest)
    by_file = num_shards > 1 and len(files) >= num_shards
    if by_file:
        files = files[shard_index::num_shards]
    height, width = manifest["height"], manifest["width"]
    out_h, out_w = image_size or (height, width)
    if seed is None:
        seed = 0 if deterministic else random.randrange(2 ** 31)
    options = tf.data.Options()
    options.deterministic = deterministic
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if num_shards > 1 and not by_file:
        dataset = dataset.shard(num_shards, shard_index)
    seed += 7919 * shard_index   # distinct augmentation streams per input pipeline
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(lambda record: records.decode_clip(record, height, width),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    dataset = dataset.map(lambda element: _resize(element, out_h, out_w),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if augment:
        dataset = dataset.enumerate().map(
            lambda index, element: _augment(element, tf.stack([tf.constant(seed, tf.int64), index]),
                                            max_scale, flip, color),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def count_clips(data_dir: str, split: str = "train") -> int:
    return int(load_manifest(data_dir)["counts"][split])
