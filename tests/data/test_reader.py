"""ddvo_tf/data/reader.py: the reader returns what was built; augmentation keeps images and intrinsics consistent
(checked against re-rendering the scene with the augmented intrinsics); damaged shards are named."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.data import reader
from ddvo_tf.data.reader import _augment
from pipelines import street_scene


def test_batches_have_documented_shapes_and_are_reproducible(built_clips):
    output, manifest, _ = built_clips
    make = lambda seed: reader.make_dataset(output, batch_size=3, deterministic=True, seed=seed)
    batch = next(iter(make(1)))
    assert batch["frames"].shape == (3, 3, 48, 156, 3) and batch["frames"].dtype == tf.float32
    assert batch["intrinsics"].shape == (3, 3, 3)
    assert 0.0 <= float(tf.reduce_min(batch["frames"])) and float(tf.reduce_max(batch["frames"])) <= 1.0
    again = next(iter(make(1)))
    np.testing.assert_array_equal(batch["frames"], again["frames"])
    other = next(iter(make(2)))
    assert not np.array_equal(batch["frames"], other["frames"])
    small = next(iter(reader.make_dataset(output, batch_size=2, image_size=(24, 78), augment=False,
                                        shuffle=False, deterministic=True)))
    full = next(iter(reader.make_dataset(output, batch_size=2, augment=False, shuffle=False, deterministic=True)))
    np.testing.assert_allclose(small["intrinsics"][:, :2, :2], full["intrinsics"][:, :2, :2] / 2, rtol=1e-6)
    np.testing.assert_allclose(small["intrinsics"][:, :2, 2], (full["intrinsics"][:, :2, 2] + 0.5) / 2 - 0.5,
                               rtol=1e-6)


@pytest.mark.parametrize("by", ["file", "clip"])
def test_input_pipeline_shards_are_disjoint_and_cover_the_split(by, built_clips):
    # tf.distribute gives each input pipeline shard_index of num_shards: whole shard files when
    # there are enough, else every n-th clip.
    output, _, _ = built_clips
    files = reader.shard_files(output, "train")
    num_shards = 2 if by == "file" else len(files) + 1
    assert by == "clip" or len(files) >= 2

    def clips(**kwargs):
        dataset = reader.make_dataset(output, batch_size=1, augment=False, shuffle=False, repeat=False,
                                    deterministic=True, drop_remainder=False, **kwargs)
        return [batch["frames"].numpy().tobytes() for batch in dataset]

    everything = clips()
    parts = [clips(num_shards=num_shards, shard_index=i) for i in range(num_shards)]
    assert all(parts) and sum(len(p) for p in parts) == len(everything)
    assert sorted(c for p in parts for c in p) == sorted(everything)
    with pytest.raises(ValueError, match="shard_index"):
        reader.make_dataset(output, num_shards=2, shard_index=2)


@pytest.fixture(scope="module")
def rendered_clip():
    height, width = 48, 160
    scene = street_scene.default_street(3)
    K = street_scene.kitti_like_intrinsics(height, width)
    K[0, 2] += 9.0   # an off-centre principal point, so a wrong flip formula shows
    pose = street_scene.camera_pose([0.4, -0.1, 2.0], yaw=0.05)
    image, _ = street_scene.render(scene, pose, K, height, width, supersample=5)
    return scene, pose, K, image


def _augmented(image, K, seed, **kwargs):
    element = {"frames": tf.constant(np.repeat(image[None], 3, 0)), "intrinsics": tf.constant(K, tf.float32)}
    return _augment(element, tf.constant([seed, 0], tf.int64), **kwargs)


def test_scale_and_crop_equals_rendering_with_the_new_intrinsics(rendered_clip):
    scene, pose, K, image = rendered_clip
    for seed in range(3):
        out = _augmented(image, K, seed, max_scale=1.3, flip=False, color=False)
        K_new = out["intrinsics"].numpy().astype(np.float64)
        assert K_new[0, 0] > K[0, 0] * 1.001 or seed > 0
        frame = out["frames"][1].numpy()

        def error(dx, dy):
            moved = K_new.copy()
            moved[0, 2] += dx
            moved[1, 2] += dy
            direct, _ = street_scene.render(scene, pose, moved, 48, 160, supersample=5)
            return np.abs(frame - direct)[4:-4, 4:-4].mean()

        # Upsampling blurs the texture, so the match is not exact; but the intrinsics the reader
        # reports must fit better than any principal point a third of a pixel away.
        best = error(0.0, 0.0)
        assert best < 0.06
        assert best < min(error(0.3, 0.0), error(-0.3, 0.0), error(0.0, 0.3), error(0.0, -0.3))


def test_flip_equals_rendering_the_mirrored_camera(rendered_clip):
    scene, pose, K, image = rendered_clip
    for seed in range(8):
        out = _augmented(image, K, seed, max_scale=1.0 + 1e-6, flip=True, color=False)
        if out["intrinsics"].numpy()[0, 2] == pytest.approx(K[0, 2], abs=1e-3):
            continue                                  # this seed did not flip
        mirror = pose @ np.diag([-1.0, 1.0, 1.0, 1.0])   # x axis reversed: the mirror-image camera
        direct, _ = street_scene.render(scene, mirror, out["intrinsics"].numpy().astype(np.float64), 48, 160,
                                        supersample=5)
        np.testing.assert_allclose(out["frames"][1].numpy(), direct, atol=2e-3)
        return
    pytest.fail("no seed flipped")


def test_colour_jitter_is_shared_by_the_three_frames(rendered_clip):
    _, _, K, image = rendered_clip
    out = _augmented(image, K, 5, max_scale=1.0 + 1e-6, flip=False, color=True)["frames"].numpy()
    assert not np.allclose(out[0], image, atol=1e-3)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_truncated_and_corrupt_shards_are_named(built_clips, tmp_path):
    output, manifest, _ = built_clips
    copy = str(tmp_path / "copy")
    shutil.copytree(output, copy)
    shard = os.path.join(copy, manifest["shards"]["train"][1]["file"])
    with open(shard, "rb") as handle:
        content = bytearray(handle.read())
    with open(shard, "wb") as handle:
        handle.write(content[: len(content) // 2])
    with pytest.raises(reader.DatasetError, match=f"{os.path.basename(shard)}: shard is .* bytes but the manifest"):
        reader.make_dataset(copy)
    content[len(content) // 2] ^= 0xFF                                    # same size, bad checksum
    with open(shard, "wb") as handle:
        handle.write(content)
    dataset = reader.make_dataset(copy, augment=False, repeat=False, batch_size=1)
    with pytest.raises(tf.errors.DataLossError):
        for _ in dataset:
            pass
    error = reader.explain_data_loss(reader.shard_files(copy))
    assert os.path.basename(shard) in str(error) and "corrupted record" in str(error)
    os.remove(os.path.join(copy, "manifest.json"))
    with pytest.raises(reader.DatasetError, match="manifest.json does not exist"):
        reader.make_dataset(copy)
