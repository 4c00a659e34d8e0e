"""Sharded, atomic, resumable TFRecord writing, in parallel processes, splittable across machines.

Output of one build (``OUTPUT``)::

    train-00000-of-00008.tfrecord ... val-00007-of-00008.tfrecord
    .shards/00000-of-00008.json          per-shard record: counts, bytes, source statistics
    build_config.json                    the arguments that define the content (checked on re-run)
    manifest.json                        written once every shard is complete

A shard holds whole sequences and is written under a temporary name, renamed when complete, and
then recorded in ``.shards/``: a re-run skips recorded shards and redoes any other, so an
interrupted build loses at most the shards in flight.  With ``num_tasks > 1`` drives are split
between tasks (machines) first, and task ``t`` owns shards ``t, t + num_tasks, ...``; every task
writes into the same (shared) output folder, and the last one to finish writes the manifest.

One build per task and folder: a task holds ``.build-task-<t>.lock`` (an exclusive ``flock``) while
it writes, so a second build of the same task into the same folder is refused instead of deleting
the first one's temporary files.  Worker processes watch their parent and exit when it is gone
(e.g. ``kill -9`` of the build), so no orphan keeps writing a shard.

Longer than 300 lines because sharding, the atomic and resumable bookkeeping, and the worker
processes are one protocol; each part relies on the others' file conventions.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import fcntl
import glob
import json
import multiprocessing
import os
import queue
import sys
import threading
import time

import tensorflow as tf
import tqdm

from ddvo_tf.core.files import write_atomic
from ddvo_tf.data import records
from pipelines.clips import ClipOptions, SequenceStats, cut_clips
from pipelines.sequences import DataError, FrameSequence

SPLITS = ("train", "val")
SHARD_RECORDS = ".shards"


@dataclasses.dataclass
class BuildPlan:
    shards: list[list[FrameSequence]]     # sequences per shard, global numbering
    num_tasks: int = 1

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    def shards_of_task(self, task_index: int) -> list[int]:
        return list(range(task_index, self.num_shards, self.num_tasks))


def plan_shards(sequences: list[FrameSequence], num_shards: int | None = None, num_tasks: int = 1
                ) -> BuildPlan:
    """Deterministic balanced plan: drives to tasks, then each task's sequences to its shards,
    largest first onto the least-filled shard."""
    if not sequences:
        raise DataError("no input sequences to build from")
    num_shards = min(num_shards or len(sequences), len(sequences))
    if num_tasks < 1 or num_tasks > num_shards:
        raise ValueError(f"num_tasks must be in [1, {num_shards}] (the number of shards)")
    drives: dict[str, list[FrameSequence]] = {}
    for sequence in sorted(sequences, key=lambda s: s.name):
        drives.setdefault(sequence.drive, []).append(sequence)
    task_load, task_of = [0] * num_tasks, {}
    for drive in sorted(drives, key=lambda d: (-sum(len(s.frames) for s in drives[d]), d)):
        task = min(range(num_tasks), key=lambda t: (task_load[t], t))
        task_of[drive] = task
        task_load[task] += sum(len(s.frames) for s in drives[drive])
    shards: list[list[FrameSequence]] = [[] for _ in range(num_shards)]
    load = [0] * num_shards
    for sequence in sorted(sequences, key=lambda s: (-len(s.frames), s.name)):
        own = range(task_of[sequence.drive], num_shards, num_tasks)
        shard = min(own, key=lambda i: (load[i], i))
        shards[shard].append(sequence)
        load[shard] += len(sequence.frames)
    return BuildPlan(shards=shards, num_tasks=num_tasks)


def shard_name(split: str, index: int, num_shards: int) -> str:
    return f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"


def _record_path(output_dir: str, index: int, num_shards: int) -> str:
    return os.path.join(output_dir, SHARD_RECORDS, f"{index:05d}-of-{num_shards:05d}.json")


def write_json_atomic(path: str, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def shard_done(output_dir: str, index: int, num_shards: int) -> dict | None:
    """The shard's record if it and its files are complete, else None (also for a damaged record:
    the shard is then written again)."""
    path = _record_path(output_dir, index, num_shards)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as handle:
            record = json.load(handle)
        files = [(os.path.join(output_dir, record["files"][split]["file"]), record["files"][split]["bytes"])
                 for split in SPLITS]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if any(not os.path.isfile(file) or os.path.getsize(file) != size for file, size in files):
        return None
    return record


def write_shard(output_dir: str, index: int, num_shards: int, sequences: list[FrameSequence],
                options: ClipOptions, static_list: set | None = None, progress=None) -> dict:
    """Write one shard (both splits) atomically and record it; returns the record."""
    paths = {split: os.path.join(output_dir, shard_name(split, index, num_shards)) for split in SPLITS}
    for path in paths.values():
        for stale in glob.glob(path + ".tmp-*"):
            os.remove(stale)
    tmp = {split: f"{path}.tmp-{os.getpid()}" for split, path in paths.items()}
    sources = []
    writers = {split: tf.io.TFRecordWriter(tmp[split]) for split in SPLITS}
    pending = [0]

    def on_frame():
        pending[0] += 1
        if progress is not None and pending[0] >= 10:
            progress.put(pending[0])
            pending[0] = 0

    try:
        for sequence in sequences:
            stats = SequenceStats()
            for clip in cut_clips(sequence, options, static_list, stats, on_frame):
                writers[clip.split].write(clip.serialize(sequence, options))
            sources.append({**sequence.to_json(), "frames_read": stats.frames,
                            "static_frames": stats.static, "clips": stats.clips})
    finally:
        for writer in writers.values():
            writer.close()
    if progress is not None and pending[0]:
        progress.put(pending[0])
    files = {}
    for split in SPLITS:
        os.replace(tmp[split], paths[split])
        files[split] = {"file": os.path.basename(paths[split]),
                        "clips": sum(s["clips"][split] for s in sources),
                        "bytes": os.path.getsize(paths[split])}
    record = {"shard": index, "num_shards": num_shards, "files": files, "sources": sources}
    write_json_atomic(_record_path(output_dir, index, num_shards), record)
    return record


def check_build_config(output_dir: str, config: dict) -> None:
    """Record the content-defining arguments; refuse to resume into a different build."""
    path = os.path.join(output_dir, "build_config.json")
    if os.path.isfile(path):
        try:
            with open(path) as handle:
                previous = json.load(handle)
        except (OSError, ValueError) as error:
            raise DataError(f"{path} is damaged ({error}); delete it (the build re-creates it if the "
                            "other files are from the same command) or use a new --output_dir") from None
        if previous != config:
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            raise DataError(f"{output_dir} holds a build made with other arguments ({', '.join(changed)} "
                            "differ); pass a new --output_dir, or delete the folder to rebuild")
    else:
        write_json_atomic(path, config)


def run_build(plan: BuildPlan, output_dir: str, options: ClipOptions, config: dict,
              static_list: set | None = None, workers: int = 1, task_index: int = 0,
              log=print) -> dict | None:
    """Write this task's missing shards; write and return the manifest once all shards exist."""
    os.makedirs(os.path.join(output_dir, SHARD_RECORDS), exist_ok=True)
    with _task_lock(output_dir, task_index):
        return _run_locked(plan, output_dir, options, config, static_list, workers, task_index, log)


@contextlib.contextmanager
def _task_lock(output_dir: str, task_index: int):
    """Hold this task's build lock of ``output_dir``; refuse when another live build holds it."""
    path = os.path.join(output_dir, f".build-task-{task_index}.lock")
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise DataError(f"{output_dir}: another build (pid {owner}) is writing task {task_index} into this "
                            "folder; wait for it to finish, or pass another --output_dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()       # releases the lock (also when the process dies)


def _run_locked(plan, output_dir, options, config, static_list, workers, task_index, log) -> dict | None:
    check_build_config(output_dir, config)
    n = plan.num_shards
    mine = plan.shards_of_task(task_index)
    todo = [i for i in mine if shard_done(output_dir, i, n) is None]
    log(f"task {task_index}/{plan.num_tasks}: {len(mine)} shards, {len(mine) - len(todo)} already "
        f"complete, {len(todo)} to write with {workers} worker(s)")
    total_frames = sum(len(s.frames) // max(s.frame_stride, 1) for i in todo for s in plan.shards[i])
    start = time.time()
    clips = 0
    with tqdm.tqdm(total=total_frames, unit="frame", file=sys.stdout, disable=not todo,
                   dynamic_ncols=True) as bar:
        if workers <= 1:
            class _Direct:
                def put(self, count):
                    bar.update(count)
            for i in todo:
                record = write_shard(output_dir, i, n, plan.shards[i], options, static_list, _Direct())
                clips += sum(f["clips"] for f in record["files"].values())
                bar.set_postfix(clips=clips)
        else:
            clips = _run_parallel(plan, todo, output_dir, options, static_list, workers, bar)
    if todo:
        elapsed = time.time() - start
        log(f"wrote {clips} clips in {len(todo)} shards in {elapsed:.1f} s ({clips / elapsed:.1f} clips/s)")
    return write_manifest(plan, output_dir, options, config)


_progress_queue = None


def _init_worker(progress, parent_pid: int) -> None:
    """In each worker: keep the progress queue, and exit as soon as the build process is gone."""
    global _progress_queue
    _progress_queue = progress

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _shard_job_in_worker(output_dir, index, num_shards, sequences, options, static_list):
    return write_shard(output_dir, index, num_shards, sequences, options, static_list, _progress_queue)


def _run_parallel(plan, todo, output_dir, options, static_list, workers, bar) -> int:
    context = multiprocessing.get_context("spawn")   # fork after TensorFlow started is unsafe
    clips = 0
    # A plain queue inherited by the workers (no Manager process, which would outlive a killed build).
    progress = context.Queue()
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                                initargs=(progress, os.getpid())) as pool:
        futures = {pool.submit(_shard_job_in_worker, output_dir, i, plan.num_shards, plan.shards[i],
                               options, static_list): i for i in todo}
        pending = set(futures)
        try:
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=0.3)
                _drain(progress, bar)
                for future in done:
                    record = future.result()          # re-raises a worker's DataError
                    clips += sum(f["clips"] for f in record["files"].values())
                    bar.set_postfix(clips=clips)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        _drain(progress, bar)
    return clips


def _drain(progress, bar) -> None:
    while True:
        try:
            bar.update(progress.get_nowait())
        except queue.Empty:
            return


def write_manifest(plan: BuildPlan, output_dir: str, options: ClipOptions, config: dict) -> dict | None:
    shard_records = [shard_done(output_dir, i, plan.num_shards) for i in range(plan.num_shards)]
    if any(r is None for r in shard_records):
        return None
    manifest = {
        "schema_version": records.SCHEMA_VERSION,
        "height": options.height, "width": options.width, "image_format": options.image_format,
        "counts": {split: sum(r["files"][split]["clips"] for r in shard_records) for split in SPLITS},
        "shards": {split: [r["files"][split] for r in shard_records] for split in SPLITS},
        "builder_args": config,
        "sources": [s for r in shard_records for s in r["sources"]],
    }
    write_json_atomic(os.path.join(output_dir, "manifest.json"), manifest)
    return manifest
