"""Depth for your own pictures: images, folders of images and videos through a SavedModel.

Per image ``NAME.png`` it writes ``NAME_depth.png`` (colour-mapped inverse depth, magma, near =
bright), ``NAME_pair.png`` (image | depth) unless ``side_by_side=False``, and ``NAME_depth.npy``
(float32 relative depth) with ``save_npy``.  A video gives ``NAME_depth.mp4`` of image | depth
frames.  Images are batched (same-size neighbours go together); a file that cannot be read is
reported in the :class:`Summary` and skipped, and the rest are still written.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Iterator

import cv2
import numpy as np
import tensorflow as tf
import tqdm

from ddvo_tf.core import pictures

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


class PredictError(Exception):
    """Input that cannot be used at all (missing, empty folder, unsupported format)."""


def load_model(path: str):
    """The float32 serving function of a SavedModel (or of a training run's ``saved_model/``)."""
    candidates = [path, os.path.join(path, "saved_model")]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            try:
                return tf.saved_model.load(candidate).signatures["serving_default"]
            except (OSError, ValueError, KeyError, tf.errors.OpError) as error:
                first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
                raise PredictError(f"{candidate}: the SavedModel cannot be loaded ({first}); its variables/ "
                                   "folder may be missing or incomplete: export it again with "
                                   "`python -m ddvo_tf.export --model_dir=RUN`") from None
    raise PredictError(f"{path}: no saved_model.pb here or in {path}/saved_model; export one with "
                       "`python -m ddvo_tf.export --model_dir=RUN`")


@dataclasses.dataclass
class Summary:
    written: int = 0
    failed: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def _read(path: str) -> np.ndarray | None:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _batches(paths: list[str], batch_size: int, summary: Summary) -> Iterator[list[tuple[str, np.ndarray]]]:
    """Readable images grouped into batches of one size; unreadable ones go to ``summary.failed``."""
    batch: list[tuple[str, np.ndarray]] = []
    for path in paths:
        image = _read(path)
        if image is None:
            summary.failed.append((path, "unreadable or truncated image"))
            continue
        if batch and (image.shape != batch[0][1].shape or len(batch) == batch_size):
            yield batch
            batch = []
        batch.append((path, image))
    if batch:
        yield batch


def _infer(serve, images: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(images).astype(np.float32) / 255.0
    return serve(images=tf.constant(stacked))["inverse_depth"].numpy()[..., 0]


def _write_outputs(path: str, image: np.ndarray, inv_depth: np.ndarray, output_dir: str, side_by_side: bool,
                   save_npy: bool) -> None:
    name = os.path.splitext(os.path.basename(path))[0]
    colour = pictures.colorize_inverse_depth(inv_depth)
    pictures.write_png(os.path.join(output_dir, f"{name}_depth.png"), colour)
    if side_by_side:
        pictures.write_png(os.path.join(output_dir, f"{name}_pair.png"), pictures.side_by_side(image, colour))
    if save_npy:
        np.save(os.path.join(output_dir, f"{name}_depth.npy"), (1.0 / inv_depth).astype(np.float32))


def predict_images(serve, paths: list[str], output_dir: str, batch_size: int = 8, side_by_side: bool = True,
                   save_npy: bool = False) -> Summary:
    summary = Summary()
    start = time.perf_counter()
    with tqdm.tqdm(total=len(paths), unit="image", file=sys.stdout) as bar:
        for batch in _batches(paths, batch_size, summary):
            try:
                inverse_depths = _infer(serve, [image for _, image in batch])
            except (tf.errors.OpError, ValueError) as error:
                reason = f"the model failed on this {batch[0][1].shape[1]}x{batch[0][1].shape[0]} image ({error})"
                summary.failed.extend((path, reason[:300]) for path, _ in batch)
                continue
            for (path, image), inv_depth in zip(batch, inverse_depths):
                try:
                    _write_outputs(path, image, inv_depth, output_dir, side_by_side, save_npy)
                    summary.written += 1
                except (OSError, ValueError, cv2.error) as error:
                    summary.failed.append((path, f"could not write its outputs ({error})"[:300]))
            bar.update(len(batch))
        bar.update(len(summary.failed))
    summary.seconds = time.perf_counter() - start
    return summary


def predict_video(serve, path: str, output_dir: str, batch_size: int = 8) -> Summary:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise PredictError(f"{path}: OpenCV cannot open this video; convert it to .mp4 (H.264)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    name = os.path.splitext(os.path.basename(path))[0]
    output = os.path.join(output_dir, f"{name}_depth.mp4")
    tmp = os.path.join(output_dir, f".{name}_depth.tmp.mp4")
    writer = None
    summary = Summary()
    start = time.perf_counter()
    try:
        with tqdm.tqdm(total=total, unit="frame", file=sys.stdout) as bar:
            while True:
                frames = []
                while len(frames) < batch_size:
                    ok, frame = capture.read()
                    if not ok:
                        break
                    frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                if not frames:
                    break
                for image, inv_depth in zip(frames, _infer(serve, frames)):
                    pair = pictures.side_by_side(image, pictures.colorize_inverse_depth(inv_depth))
                    if writer is None:
                        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                                 (pair.shape[1], pair.shape[0]))
                    writer.write(cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
                    summary.written += 1
                bar.update(len(frames))
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if summary.written == 0:
        raise PredictError(f"{path}: no frame could be decoded")
    os.replace(tmp, output)
    summary.seconds = time.perf_counter() - start
    return summary


def run(model: str, input_path: str, output_dir: str, batch_size: int = 8, side_by_side: bool = True,
        save_npy: bool = False) -> Summary:
    if not os.path.exists(input_path):
        raise PredictError(f"{input_path}: no such file or folder")
    serve = load_model(model)
    os.makedirs(output_dir, exist_ok=True)
    if os.path.isdir(input_path):
        paths = sorted(os.path.join(input_path, n) for n in os.listdir(input_path)
                       if n.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise PredictError(f"{input_path}: no images ({' '.join(IMAGE_EXTENSIONS)}) in this folder")
        return predict_images(serve, paths, output_dir, batch_size, side_by_side, save_npy)
    extension = os.path.splitext(input_path)[1].lower()
    if extension in VIDEO_EXTENSIONS:
        return predict_video(serve, input_path, output_dir, batch_size)
    if extension in IMAGE_EXTENSIONS:
        return predict_images(serve, [input_path], output_dir, batch_size, side_by_side, save_npy)
    raise PredictError(f"{input_path}: unsupported file type {extension!r}; use an image "
                       f"({' '.join(IMAGE_EXTENSIONS)}), a video ({' '.join(VIDEO_EXTENSIONS)}) or a folder")
