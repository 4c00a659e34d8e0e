"""Cityscapes ``leftImg8bit_sequence``: 30-frame snippets with ``camera/*.json`` intrinsics.

Layout::

    ROOT/leftImg8bit_sequence/SPLIT/CITY/CITY_SEQ_FRAME_leftImg8bit.png
    ROOT/camera/SPLIT/CITY/CITY_SEQ_FRAME_camera.json   ("intrinsic": fx, fy, u0, v0)

The camera file exists for one frame of each snippet and holds for all of them.  The bottom band
with the ego car's hood is cropped (``crop_bottom``, 25 % as in SfMLearner) before resizing; the
crop keeps the top-left origin, so only the resize changes ``K``.  Cityscapes runs at 17 Hz:
keep every second frame (``frame_stride=2``) to get KITTI-like motion between frames.
"""
from __future__ import annotations

import glob
import json
import os
import re

import numpy as np

from pipelines.sequences import DataError, FrameSequence

_NAME_RE = re.compile(r"^(?P<city>.+)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.png$")


def read_camera_json(path: str) -> np.ndarray:
    try:
        with open(path) as handle:
            intrinsic = json.load(handle)["intrinsic"]
        fx, fy, u0, v0 = (float(intrinsic[k]) for k in ("fx", "fy", "u0", "v0"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: not a Cityscapes camera file with intrinsic fx, fy, u0, v0 ({error})") from None
    return np.array([[fx, 0.0, u0], [0.0, fy, v0], [0.0, 0.0, 1.0]])


def cityscapes_sequences(root: str, splits=("train",), crop_bottom: float = 0.25,
                         frame_stride: int = 2) -> list[FrameSequence]:
    sequences = []
    for split in splits:
        image_root = os.path.join(root, "leftImg8bit_sequence", split)
        if not os.path.isdir(image_root):
            raise DataError(f"{image_root}: missing; unpack leftImg8bit_sequence_trainvaltest.zip into {root}")
        snippets: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for path in sorted(glob.glob(os.path.join(image_root, "*", "*_leftImg8bit.png"))):
            match = _NAME_RE.match(os.path.basename(path))
            if match is None:
                raise DataError(f"{path}: unexpected file name for leftImg8bit_sequence")
            snippets.setdefault((match["city"], match["seq"]), []).append((int(match["frame"]), path))
        for (city, seq), frames in sorted(snippets.items()):
            cameras = sorted(glob.glob(os.path.join(root, "camera", split, city, f"{city}_{seq}_*_camera.json")))
            if not cameras:
                raise DataError(f"{os.path.join(root, 'camera', split, city)}: no camera file for snippet "
                                f"{city}_{seq}; unpack camera_trainvaltest.zip into {root}")
            sequences.append(FrameSequence(drive=f"{city}_{seq}", camera="leftImg8bit",
                                           intrinsics=read_camera_json(cameras[0]), frames=sorted(frames),
                                           crop_bottom=crop_bottom, frame_stride=frame_stride))
    if not sequences:
        raise DataError(f"{root}: no Cityscapes sequence frames found for splits {list(splits)}")
    return sequences
