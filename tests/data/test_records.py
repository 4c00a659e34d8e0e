"""records.py: a clip survives encode -> TFRecord file -> decode bit-exactly."""
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.data import records


def _clip(rng, height=16, width=24):
    frames = rng.integers(0, 256, (3, height, width, 3), dtype=np.uint8)
    encoded = [tf.io.encode_png(f).numpy() for f in frames]
    intrinsics = np.array([[20.5, 0, 11.25], [0, 19.75, 7.5], [0, 0, 1]], np.float32)
    return frames, encoded, intrinsics


def test_round_trip_through_a_tfrecord_file(tmp_path):
    rng = np.random.default_rng(0)
    frames, encoded, intrinsics = _clip(rng)
    path = str(tmp_path / "clips.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(records.encode_clip(encoded, 16, 24, intrinsics, "2011_09_26_drive_0001_sync",
                                         "image_02", [4, 5, 6]))
    dataset = tf.data.TFRecordDataset(path).map(lambda s: records.decode_clip(s, 16, 24))
    clip = next(iter(dataset))
    np.testing.assert_array_equal(np.round(clip["frames"].numpy() * 255).astype(np.uint8), frames)
    np.testing.assert_array_equal(clip["intrinsics"].numpy(), intrinsics)
    assert clip["drive"].numpy() == b"2011_09_26_drive_0001_sync"
    assert clip["camera"].numpy() == b"image_02"
    np.testing.assert_array_equal(clip["frame_numbers"].numpy(), [4, 5, 6])


def test_wrong_size_is_reported():
    rng = np.random.default_rng(1)
    _, encoded, intrinsics = _clip(rng)
    serialized = records.encode_clip(encoded, 16, 24, intrinsics, "d", "image_02", [0, 1, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="image size differs"):
        records.decode_clip(tf.constant(serialized), 32, 104)


@pytest.mark.parametrize("bad", ["frames", "intrinsics", "format"])
def test_encode_rejects_bad_input(bad):
    rng = np.random.default_rng(2)
    _, encoded, intrinsics = _clip(rng)
    kwargs = dict(encoded_frames=encoded, height=16, width=24, intrinsics=intrinsics, drive="d",
                  camera="image_02", frame_numbers=[0, 1, 2])
    if bad == "frames":
        kwargs["encoded_frames"] = encoded[:2]
    elif bad == "intrinsics":
        kwargs["intrinsics"] = np.full((3, 3), np.nan)
    else:
        kwargs["image_format"] = "gif"
    with pytest.raises(ValueError):
        records.encode_clip(**kwargs)
