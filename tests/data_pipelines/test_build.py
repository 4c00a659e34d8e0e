"""pipelines.build end to end on the synthetic KITTI-layout drives: static frames, round trip,
resume after an interruption, machine split, bad input."""
import os
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

from ddvo_tf.data import reader, records
from pipelines import clips, kitti_raw, writer
from pipelines import job as build
from pipelines.sequences import DataError

QUIET = dict(log=lambda *a: None)


def _manifest_without_args(manifest):
    return {k: v for k, v in manifest.items() if k != "builder_args"}


def test_stopped_frames_are_dropped_and_moving_ones_kept(built_clips, synthetic_kitti):
    _, manifest, _ = built_clips
    _, config = synthetic_kitti
    stopped = set(range(config.stop_start, config.stop_start + config.stop_length))
    for source in manifest["sources"]:
        assert source["frames_read"] == config.num_frames
        assert source["static_frames"] == config.stop_length
    # Every kept-frame triplet is a clip; no clip contains a stopped frame.
    output, _, _ = built_clips
    numbers = [tuple(c["frame_numbers"].numpy()) for c in _read_all(output)]
    kept = config.num_frames - config.stop_length
    assert len(numbers) == 4 * (kept - 2)           # 2 drives x 2 cameras
    assert not stopped & {n for triple in numbers for n in triple}
    assert (config.stop_start - 1, config.stop_start + config.stop_length, config.stop_start + config.stop_length + 1) in numbers


def _read_all(output, split=None):
    manifest = reader.load_manifest(output)
    splits = [split] if split else ["train", "val"]
    files = [f for s in splits for f in reader.shard_files(output, s, manifest)]
    dataset = tf.data.TFRecordDataset(files).map(
        lambda r: records.decode_clip(r, manifest["height"], manifest["width"]))
    return list(dataset)


def test_round_trip_frames_and_intrinsics_equal_what_was_written(built_clips, synthetic_kitti):
    output, manifest, config = built_clips
    root, synth = synthetic_kitti
    options = clips.ClipOptions(height=config.height, width=config.width)
    calib = os.path.join(root, "2000_01_01")
    examples = _read_all(output)
    assert len(examples) == manifest["counts"]["train"] + manifest["counts"]["val"]
    assert manifest["counts"]["val"] > 0
    for example in examples[::7]:
        drive, camera = example["drive"].numpy().decode(), example["camera"].numpy().decode()
        K = clips.output_intrinsics(kitti_raw.camera_intrinsics(calib, camera), synth.height, synth.width, options)
        np.testing.assert_allclose(example["intrinsics"].numpy(), K, rtol=1e-6)
        for frame, number in zip(example["frames"].numpy(), example["frame_numbers"].numpy()):
            source = cv2.imread(os.path.join(root, "2000_01_01", drive, camera, "data", f"{number:010d}.png"))
            expected = cv2.resize(cv2.cvtColor(source, cv2.COLOR_BGR2RGB), (config.width, config.height),
                                  interpolation=cv2.INTER_AREA)
            np.testing.assert_array_equal(np.round(frame * 255).astype(np.uint8), expected)


def test_interrupted_build_resumes_to_the_same_manifest(synthetic_kitti, built_clips, tmp_path, monkeypatch):
    root, _ = synthetic_kitti
    _, reference, reference_config = built_clips
    output = str(tmp_path / "out")
    config = build.BuildConfig(dataset="kitti_raw", input=root, output_dir=output, height=48, width=156)
    real_cut = writer.cut_clips
    calls = {"shard": 0}

    def dying_cut(sequence, *args, **kwargs):
        calls["shard"] += 1
        for count, clip in enumerate(real_cut(sequence, *args, **kwargs)):
            if calls["shard"] == 3 and count == 5:
                raise KeyboardInterrupt("worker killed mid-shard")
            yield clip

    monkeypatch.setattr(writer, "cut_clips", dying_cut)
    with pytest.raises(KeyboardInterrupt):
        build.build(config, **QUIET)
    finished = sorted(f for f in os.listdir(output) if f.endswith(".tfrecord"))
    assert len(finished) == 4 and any(".tmp-" in f for f in os.listdir(output))   # 2 shards done
    assert not os.path.exists(os.path.join(output, "manifest.json"))
    stamps = {f: os.path.getmtime(os.path.join(output, f)) for f in finished}
    monkeypatch.setattr(writer, "cut_clips", real_cut)
    manifest = build.build(config, **QUIET)
    assert {f: os.path.getmtime(os.path.join(output, f)) for f in finished} == stamps   # not redone
    assert not any(".tmp-" in f for f in os.listdir(output))
    assert _manifest_without_args(manifest) == _manifest_without_args(reference)
    with pytest.raises(DataError, match="other arguments .*height"):
        build.build(build.BuildConfig(dataset="kitti_raw", input=root, output_dir=output, height=64,
                                      width=156), **QUIET)


def test_split_across_two_tasks_covers_disjoint_drives(synthetic_kitti, built_clips, tmp_path):
    root, _ = synthetic_kitti
    _, reference, _ = built_clips
    output = str(tmp_path / "out")
    configs = [build.BuildConfig(dataset="kitti_raw", input=root, output_dir=output, height=48, width=156,
                                 num_tasks=2, task_index=t) for t in (0, 1)]
    assert build.build(configs[0], **QUIET) is None      # task 1 not done yet: no manifest
    manifest = build.build(configs[1], **QUIET)
    assert manifest["counts"] == reference["counts"]
    plan = writer.plan_shards(build.load_sequences(configs[0])[0], None, 2)
    drives = [{s.drive for i in plan.shards_of_task(t) for s in plan.shards[i]} for t in (0, 1)]
    assert drives[0] and drives[1] and not drives[0] & drives[1]


def test_two_worker_processes_write_the_same_shards(synthetic_kitti, built_clips, tmp_path):
    root, _ = synthetic_kitti
    output_dir, reference, _ = built_clips
    output = str(tmp_path / "out")
    manifest = build.build(build.BuildConfig(dataset="kitti_raw", input=root, output_dir=output,
                                             height=48, width=156, workers=2), **QUIET)
    assert _manifest_without_args(manifest) == _manifest_without_args(reference)
    # Protobuf map order may differ between processes, so compare parsed examples, not bytes.
    for split in ("train", "val"):
        for shard in manifest["shards"][split]:
            ours, theirs = (list(tf.data.TFRecordDataset(os.path.join(folder, shard["file"])).as_numpy_iterator())
                            for folder in (output, output_dir))
            assert len(ours) == len(theirs) == shard["clips"]
            for a, b in zip(ours, theirs):
                assert tf.train.Example.FromString(a) == tf.train.Example.FromString(b)


def _copy_drive(root, tmp_path):
    copy = str(tmp_path / "kitti")
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("velodyne_points", "depth_*", "*drive_0002*"))
    return copy, os.path.join(copy, "2000_01_01", "2000_01_01_drive_0001_sync", "image_02", "data")


def test_truncated_image_and_odd_sized_frame_are_named(synthetic_kitti, tmp_path):
    root, _ = synthetic_kitti
    copy, folder = _copy_drive(root, tmp_path)
    bad = os.path.join(folder, "0000000004.png")
    with open(bad, "rb") as handle:
        content = handle.read()
    with open(bad, "wb") as handle:
        handle.write(content[: len(content) // 2])
    config = build.BuildConfig(dataset="kitti_raw", input=copy, output_dir=str(tmp_path / "o1"),
                               height=48, width=156)
    with pytest.raises(DataError, match="0000000004.png: unreadable or truncated image"):
        build.build(config, **QUIET)
    cv2.imwrite(bad, np.zeros((90, 300, 3), np.uint8))
    config.output_dir = str(tmp_path / "o2")
    with pytest.raises(DataError, match="0000000004.png: frame is 300x90 but earlier frames"):
        build.build(config, **QUIET)
    os.remove(os.path.join(copy, "2000_01_01", "calib_cam_to_cam.txt"))
    config.output_dir = str(tmp_path / "o3")
    with pytest.raises(DataError, match="calib_cam_to_cam.txt: calibration file is missing"):
        build.build(config, **QUIET)


def test_static_frames_list_replaces_optical_flow(synthetic_kitti, tmp_path):
    root, _ = synthetic_kitti
    copy, _ = _copy_drive(root, tmp_path)
    static = tmp_path / "static.txt"
    static.write_text("2000_01_01 2000_01_01_drive_0001_sync 0000000003\n"
                      "2000_01_01/2000_01_01_drive_0001_sync 0000000004\n")
    manifest = build.build(build.BuildConfig(dataset="kitti_raw", input=copy, output_dir=str(tmp_path / "o"),
                                             height=48, width=156, static_frames=str(static)), **QUIET)
    assert [s["static_frames"] for s in manifest["sources"]] == [2, 2]


def test_command_line_reports_bad_input_without_traceback(tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "pipelines.build", "--dataset=kitti_raw",
                             f"--input={tmp_path}/nowhere", f"--output_dir={tmp_path}/out"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "error:" in result.stderr and "nowhere: KITTI raw folder does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_build_into_the_same_folder_is_refused_and_harms_nothing(synthetic_kitti, tmp_path):
    import fcntl
    root, _ = synthetic_kitti
    output = tmp_path / "out"
    output.mkdir()
    live_tmp = output / "train-00000-of-00002.tfrecord.tmp-424242"     # the live build's file
    live_tmp.write_bytes(b"partial")
    with open(output / ".build-task-0.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)                  # a live build holds task 0
        lock.write("424242\n")
        lock.flush()
        with pytest.raises(DataError, match=r"another build \(pid 424242\) is writing task 0 into this folder"):
            build.build(build.BuildConfig(dataset="kitti_raw", input=root, output_dir=str(output),
                                          height=48, width=156, num_shards=2), **QUIET)
        assert live_tmp.read_bytes() == b"partial"
    # Once it is gone, a build takes over and cleans up what it left.
    manifest = build.build(build.BuildConfig(dataset="kitti_raw", input=root, output_dir=str(output),
                                             height=48, width=156, num_shards=2), **QUIET)
    assert manifest["counts"]["train"] > 0 and not live_tmp.exists()


def _descendants(pid):
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid:
                children.add(int(entry))
    return children | {d for c in children for d in _descendants(c)}


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killing_a_build_kills_its_workers(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    # Two videos long enough that both workers are still writing their shard when the build dies.
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (256, 832 + 3 * 300, 3)).astype(np.uint8), (5, 5), 0)
    (tmp_path / "videos").mkdir()
    for name in ("a", "b"):
        writer_ = cv2.VideoWriter(str(tmp_path / "videos" / f"{name}.avi"), cv2.CAP_OPENCV_MJPEG,
                                  cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (832, 256))
        for i in range(300):
            writer_.write(texture[:, 3 * i:3 * i + 832])
        writer_.release()
    output = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "pipelines.build", "--dataset=video",
                                f"--input={tmp_path / 'videos'}", f"--output_dir={output}", "--height=128",
                                "--width=416", "--workers=2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while not list(output.glob("*.tmp-*")) and time.time() < deadline and process.poll() is None:
            time.sleep(0.02)
        workers = _descendants(process.pid)
        assert list(output.glob("*.tmp-*")) and process.poll() is None, "no shard was in flight"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not [w for w in workers if _alive(w)], "workers outlived the killed build"
        assert not (output / "manifest.json").exists()
    finally:
        if process.poll() is None:
            process.kill()


def test_damaged_manifest_and_shard_record_are_named_or_rewritten(built_clips, tmp_path):
    output_dir = str(tmp_path / "copy")
    shutil.copytree(built_clips[0], output_dir)
    with open(os.path.join(output_dir, "manifest.json"), "w") as handle:
        handle.write("")
    with pytest.raises(reader.DatasetError, match=r"manifest.json is damaged .*delete it and re-run the build"):
        reader.load_manifest(output_dir)
    record = sorted(os.listdir(os.path.join(output_dir, writer.SHARD_RECORDS)))[0]
    with open(os.path.join(output_dir, writer.SHARD_RECORDS, record), "w") as handle:
        handle.write("{not json")
    assert writer.shard_done(output_dir, 0, int(record.split("-of-")[1].split(".")[0])) is None
