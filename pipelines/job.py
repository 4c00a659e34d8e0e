"""The build job as a library: :class:`BuildConfig` (every option of ``python -m pipelines.build``)
and :func:`build`, which loads a source's sequences and writes (or resumes) the sharded clips.

The command-line front end, with examples, is ``pipelines/build.py``.
"""
from __future__ import annotations

import dataclasses
import os

from pipelines import cityscapes, kitti_raw, synthetic, video
from pipelines.static_frames import read_static_list

DATASETS = ("kitti_raw", "cityscapes", "video", "synthetic")


@dataclasses.dataclass
class BuildConfig:
    dataset: str
    input: str
    output_dir: str
    height: int = 128
    width: int = 416
    image_format: str = "png"
    jpeg_quality: int = 95
    static_threshold: float = 1.0
    static_frames: str | None = None
    val_fraction: float = 0.1
    seed: int = 0
    num_shards: int | None = None
    workers: int = 1
    task_index: int = 0
    num_tasks: int = 1
    test_files: str | None = None
    allow_missing_test_files: bool = False
    cameras: tuple = kitti_raw.CAMERAS
    frame_stride: int | None = None           # None: 2 for Cityscapes (17 Hz), else 1
    crop_bottom: float = 0.25                 # Cityscapes only
    cityscapes_splits: tuple = ("train",)
    intrinsics: str | None = None             # video only
    hfov_deg: float = 80.0                    # video only, when intrinsics are unknown
    synthetic: synthetic.SyntheticConfig = synthetic.SyntheticConfig()

    def content_args(self) -> dict:
        """Arguments that decide what the shards contain (a resumed build must not change them)."""
        skip = {"workers", "task_index", "output_dir"}
        data = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        data["cameras"], data["cityscapes_splits"] = list(self.cameras), list(self.cityscapes_splits)
        if self.dataset != "synthetic":
            data.pop("synthetic")
        else:
            data["synthetic"] = self.synthetic.to_json()
        return data


def load_sequences(config: BuildConfig):
    """The source's sequences and the drives excluded as test drives."""
    stride = config.frame_stride or (2 if config.dataset == "cityscapes" else 1)
    excluded: list[str] = []
    if config.dataset in ("kitti_raw", "synthetic"):
        if config.dataset == "synthetic":
            synthetic.generate(config.input, dataclasses.replace(config.synthetic, cameras=tuple(config.cameras)),
                               workers=config.workers)
        sequences, excluded = kitti_raw.kitti_sequences(config.input, config.test_files, config.cameras,
                                                        config.allow_missing_test_files)
    elif config.dataset == "cityscapes":
        sequences = cityscapes.cityscapes_sequences(config.input, config.cityscapes_splits,
                                                    config.crop_bottom, stride)
    elif config.dataset == "video":
        sequences = video.video_sequences(config.input, config.intrinsics, config.hfov_deg, stride)
    else:
        raise ValueError(f"--dataset must be one of {DATASETS}, got {config.dataset!r}")
    for sequence in sequences:
        sequence.frame_stride = stride
    return sequences, excluded


STATIC_SHARE_WARNING = 0.5   # a source with more static frames than this is reported


def source_warnings(sources: list[dict]) -> list[str]:
    """What a user should know about the sources of a finished build: videos that ended before
    the frame count their container announced, and sources where the camera hardly moved."""
    warnings = []
    for source in sources:
        name = source.get("video") or f"{source['drive']}/{source['camera']}"
        stride = max(int(source.get("frame_stride", 1)), 1)
        announced = -(-int(source["num_frames"]) // stride)
        read = int(source.get("frames_read", announced))
        if source.get("video") and read < announced:
            warnings.append(f"{name}: the file announces {source['num_frames']} frames but only "
                            f"{read * stride} could be decoded; the build used those (a damaged or "
                            "truncated file? re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)")
        static = int(source.get("static_frames", 0))
        if read and static / read > STATIC_SHARE_WARNING:
            clips = sum(source.get("clips", {}).values())
            warnings.append(f"{name}: {static} of {read} frames are static (the camera hardly moves; "
                            f"moving objects alone do not count), {clips} clips kept; the method needs a "
                            "moving camera")
    return warnings


def build(config: BuildConfig, log=print) -> dict | None:
    """Run (or resume) a build; returns the manifest, or None while other tasks are unfinished."""
    # Here, not at the top: the build command's flags and --help come up without TensorFlow.
    from pipelines.clips import ClipOptions
    from pipelines.writer import plan_shards, run_build

    options = ClipOptions(height=config.height, width=config.width, image_format=config.image_format,
                          jpeg_quality=config.jpeg_quality, static_threshold=config.static_threshold,
                          val_fraction=config.val_fraction, seed=config.seed)
    sequences, excluded = load_sequences(config)
    if excluded:
        log(f"excluding {len(excluded)} test drives listed in {config.test_files}")
    static_list = read_static_list(config.static_frames) if config.static_frames else None
    plan = plan_shards(sequences, config.num_shards, config.num_tasks)
    if not 0 <= config.task_index < plan.num_tasks:
        raise ValueError(f"--task_index must be in [0, {plan.num_tasks}), got {config.task_index}")
    content = config.content_args()
    content["num_shards"] = plan.num_shards
    content["excluded_drives"] = excluded
    manifest = run_build(plan, config.output_dir, options, content, static_list, config.workers,
                         config.task_index, log)
    if manifest is None:
        log("other tasks' shards are not finished yet; the last task to finish writes manifest.json")
    else:
        for warning in source_warnings(manifest["sources"]):
            log(f"warning: {warning}")
        log(f"manifest: {manifest['counts']['train']} train / {manifest['counts']['val']} val clips "
            f"from {len(manifest['sources'])} sequences -> {os.path.join(config.output_dir, 'manifest.json')}")
    return manifest
