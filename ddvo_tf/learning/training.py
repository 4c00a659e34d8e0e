"""The training loop around ``DepthLearner.compute_gradients`` / ``apply_gradients``: the
``tf.distribute`` strategy (``distribute.py``), data, checkpoints and exact resume, TensorBoard,
progress and the NaN guard.  Checkpoint handling is in ``checkpoints.py``; the SavedModel and the
pictures at the end of a run are the ``ddvo_tf.train`` command's (``ddvo_tf.serving.export``).

``model_dir`` after a run::

    config.json                 the TrainConfig of the run
    checkpoints/                tf.train.CheckpointManager (step, networks, optimizer state)
    tensorboard/                scalars (every loss term, mean inverse depth before normalization,
                                gradient norm, steps/s) and images (target, inverse depth, warps)
    saved_model/                Depth-CNN SavedModel (written by the train command, ddvo_tf.serving.export)
    depth_00.png ...            target frame | colour-mapped inverse depth, a few clips (the same)
    pretrain_posecnn/           hybrid without --init_checkpoint: the Pose-CNN stage, a full run
    .workers/<task>/            multi_worker, non-chief workers: scratch checkpoints, removed at the end

Only the chief writes everything but ``.workers/`` (``distribute.is_chief``).

An interrupted run resumes from its latest checkpoint when started again with the same
``model_dir``: networks, optimizer moments and the step counter are restored exactly; the data
order restarts from a seed derived from the step (the shuffle buffer is not checkpointed: it would
hold hundreds of megabytes of clips).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
import tqdm

from ddvo_tf.core import pictures
from ddvo_tf.core.files import write_atomic
from ddvo_tf.data import reader
from ddvo_tf.learning import checkpoints, distribute
from ddvo_tf.learning.checkpoints import TrainingError
from ddvo_tf.learning.config import TrainConfig
from ddvo_tf.learning.learner import DepthLearner
from ddvo_tf.learning.monitoring import CollapseWatch


def check_training_size(config: TrainConfig, manifest: dict) -> None:
    """Refuse to train above the size the clips were built at (the frames would be upsampled:
    blurred input, and depth detail the data cannot hold)."""
    built_h, built_w = int(manifest["height"]), int(manifest["width"])
    if config.height > built_h or config.width > built_w:
        raise TrainingError(
            f"the clips in {config.data_dir} were built at {built_h}x{built_w}, smaller than the training size "
            f"--height={config.height} --width={config.width}: train at --height={built_h} --width={built_w} "
            f"(or smaller), or rebuild with python -m pipelines.build ... --height={config.height} "
            f"--width={config.width}")


def total_steps(config: TrainConfig, num_clips: int) -> int:
    if config.steps is not None:
        return int(config.steps)
    return max(1, int(math.ceil(config.num_epochs * num_clips / config.batch_size)))


def _scalars(result: dict) -> dict[str, float]:
    return {k: float(v) for k, v in result.items() if k != "outputs"}


def build_learner(config: TrainConfig, strategy: tf.distribute.Strategy | None = None
                  ) -> tuple[DepthLearner, keras.optimizers.Optimizer]:
    """The learner and its built optimizer (loss-scaled for fp16) under ``strategy``'s scope."""
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(config.seed)           # same initial weights for the same seed
    with strategy.scope():
        learner = DepthLearner(config)
        optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=0.9, beta_2=0.999)
        if config.precision == "fp16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        learner.compile(optimizer=optimizer)
        optimizer.build(learner.trainable_variables)
    return learner, optimizer


def make_train_function(learner: DepthLearner, strategy: tf.distribute.Strategy, jit_compile: bool = False):
    """``train_fn(distributed_batch) -> scalars`` averaged over replicas: every replica computes its
    gradients (XLA-compiled with ``jit_compile``), the optimizer sums them and updates."""
    gradient_fn = tf.function(learner.compute_gradients, jit_compile=jit_compile)
    # On one device the Adam update over ~31 M weights is fused by XLA (faster even on a CPU,
    # BUILD_NOTES.md, decisions: XLA); with several replicas it holds the cross-replica all-reduce, left as is.
    apply_fn = (tf.function(learner.apply_gradients, jit_compile=True) if strategy.num_replicas_in_sync == 1
                else learner.apply_gradients)

    def replica_step(batch):
        result, gradients = gradient_fn(batch)
        apply_fn(gradients)
        return result

    @tf.function
    def train_fn(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

    return train_fn


def train(config: TrainConfig, log=print, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Run (or resume) one training run; returns ``{"model_dir", "steps", "chief"}``."""
    if config.data_dir is None:
        raise TrainingError("config.data_dir is required (train.py builds the synthetic data when "
                            "--data_dir is omitted)")
    if strategy is None:
        try:
            strategy = distribute.make_strategy(config.strategy)
        except distribute.DistributeError as error:
            raise TrainingError(str(error)) from None
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise TrainingError(f"--batch_size={config.batch_size} (the global batch) must be a multiple of the "
                            f"{replicas} replicas of --strategy={config.strategy}")
    chief = distribute.is_chief(strategy)
    # The data is checked before anything is printed or written, the Pose-CNN stage included.
    manifest = reader.load_manifest(config.data_dir)
    check_training_size(config, manifest)
    if config.mode == "hybrid" and not config.init_checkpoint:
        stage = dataclasses.replace(config, mode="posecnn", model_dir=os.path.join(config.model_dir, "pretrain_posecnn"),
                                    steps=config.pretrain_steps, epochs=config.pretrain_epochs)
        log(f"hybrid: no --init_checkpoint, so first the posecnn stage in {stage.model_dir}")
        train(stage, log, strategy)
        config = dataclasses.replace(config, init_checkpoint=stage.model_dir)
    steps = total_steps(config, manifest["counts"]["train"])
    checkpoint_dir = os.path.join(config.model_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest:
        checkpoints.check_same_networks(checkpoints.saved_config(config.model_dir), config,
                                        f"{config.model_dir} (being resumed)", same_mode=True)
    elif config.init_checkpoint:
        source = checkpoints.resolve_checkpoint(config.init_checkpoint)
        checkpoints.check_same_networks(checkpoints.saved_config(checkpoints.run_dir_of(source)), config,
                                        f"--init_checkpoint={config.init_checkpoint}")

    learner, optimizer = build_learner(config, strategy)
    with strategy.scope():
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    objects = {"step": step, "depth_net": learner.depth_net, "optimizer": optimizer}
    if learner.pose_net is not None:
        objects["pose_net"] = learner.pose_net
    checkpoint = tf.train.Checkpoint(**objects)
    # Every worker takes part in a save; only the chief's copy is kept.
    scratch = None if chief else os.path.join(config.model_dir, ".workers", distribute.worker_id(strategy))
    if latest:
        checkpoints.restore(checkpoint, latest, f"{config.model_dir} (being resumed)")
        # The checkpoint holds the optimizer's learning rate; the command line's wins, so a run
        # stopped by a diverging loss can be resumed with a lower --learning_rate.
        restored_rate = float(optimizer.learning_rate.numpy())
        optimizer.learning_rate = config.learning_rate
        rate_note = ("" if math.isclose(restored_rate, config.learning_rate, rel_tol=1e-6)
                     else f", learning rate {restored_rate:g} -> {config.learning_rate:g}")
        if int(step.numpy()) < steps:
            log(f"resuming {config.mode} from {latest} (step {int(step.numpy())} of {steps}{rate_note})")
    elif config.init_checkpoint:
        networks = {k: v for k, v in objects.items() if k in ("depth_net", "pose_net")}
        checkpoints.restore(tf.train.Checkpoint(**networks), source, f"--init_checkpoint={config.init_checkpoint}",
                 partial=True, hint="(hybrid starts from a posecnn run; was it a ddvo run, or another "
                                     "--width_multiplier?)")
        log(f"initialised {', '.join(networks)} from {source}")
    # Written only once the inputs have been checked: a failed command leaves an existing run as it was.
    os.makedirs(config.model_dir, exist_ok=True)
    if chief:
        write_atomic(os.path.join(config.model_dir, "config.json"), config.to_json())
    manager = tf.train.CheckpointManager(checkpoint, scratch or checkpoint_dir, max_to_keep=config.keep_checkpoints)
    start = int(step.numpy())
    if start >= steps:
        log(f"{config.model_dir}: already trained for {start} steps ({latest})")
    else:
        if replicas > 1:
            log(f"{config.strategy}: {replicas} replicas, {config.batch_size // replicas} clips each")
        _run_steps(config, learner, step, steps, manager, log, strategy, chief)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    # Only the chief's checkpoints are the run's; the caller exports from them when ``chief``.
    return {"model_dir": config.model_dir, "steps": int(step.numpy()), "chief": chief}


def _run_steps(config, learner, step, steps, manager, log, strategy, chief) -> None:
    start = int(step.numpy())
    files = reader.shard_files(config.data_dir, "train")

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        dataset = reader.make_dataset(config.data_dir, "train", context.get_per_replica_batch_size(config.batch_size),
                                    (config.height, config.width), augment=config.augment, seed=config.seed + start,
                                    num_shards=context.num_input_pipelines, shard_index=context.input_pipeline_id)
        return dataset.map(lambda b: {"frames": b["frames"], "intrinsics": b["intrinsics"]})

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    train_fn = make_train_function(learner, strategy, config.jit_compile)
    outputs_fn = tf.function(lambda batch: learner.compute_losses(batch, training=False)["outputs"])
    writer = (tf.summary.create_file_writer(os.path.join(config.model_dir, "tensorboard")) if chief
              else tf.summary.create_noop_writer())
    saved_at, watch = start, CollapseWatch(steps)
    tick, tick_step = time.perf_counter(), start
    if chief:
        log(f"{config.mode}: tracing and compiling the train step (the first step takes a while) ...")
    # The bar starts after the first step, so its rate and time left are not those of the tracing.
    bar = None
    with writer.as_default(), contextlib.ExitStack() as cleanup:
        while int(step.numpy()) < steps:
            try:
                batch = next(iterator)
            except tf.errors.DataLossError:
                raise TrainingError(str(reader.explain_data_loss(files))) from None
            result = train_fn(batch)
            loss = float(result["loss"])
            current = int(step.numpy()) + 1
            if not math.isfinite(loss):
                terms = ", ".join(f"{k}={v:.4g}" for k, v in _scalars(result).items())
                kept = checkpoints.drop_unverified_checkpoint(manager, current)
                raise TrainingError(
                    f"step {current}: the loss is {loss} ({terms}). {kept} Resume with a lower "
                    "--learning_rate (the command line's rate replaces the checkpoint's), or keep "
                    "--normalize on (the baseline mode is expected to diverge, Section 5.1)")
            step.assign(current)
            if bar is None:
                if chief:
                    log(f"{config.mode}: first step done in {time.perf_counter() - tick:.0f} s")
                bar = cleanup.enter_context(tqdm.tqdm(total=steps, initial=current, unit="step", dynamic_ncols=True,
                                                      desc=config.mode, disable=not chief))
            else:
                bar.update(1)
            warning = watch.update(result, current)
            bar.set_postfix(loss=f"{loss:.4f}", inv_depth=f"{float(result['mean_inv_depth']):.3f}",
                            spread=f"{float(result['inv_depth_spread']):.3f}",
                            **({"WARNING": "flat"} if watch.collapsed else {}))
            if warning:
                tqdm.tqdm.write(warning)
            if current % config.summary_every == 0 or current == steps:
                now = time.perf_counter()
                for name, value in _scalars(result).items():
                    tf.summary.scalar(name, value, step=current)
                tf.summary.scalar("steps_per_second", (current - tick_step) / max(now - tick, 1e-9), step=current)
                tick, tick_step = now, current
            if chief and (current % config.image_every == 0 or current == steps):
                _image_summaries(outputs_fn(strategy.experimental_local_results(batch)[0]), current)
            if current % config.checkpoint_every == 0 or current == steps:
                manager.save(checkpoint_number=current)
                saved_at = current
    writer.flush()
    if saved_at != int(step.numpy()):
        manager.save(checkpoint_number=int(step.numpy()))


def _image_summaries(outputs: dict, step: int, count: int = 2) -> None:
    target = outputs["target"].numpy()[:count]
    inv_depth = outputs["inv_depth"].numpy()[:count]
    warped = outputs["warped"].numpy()[:count]
    tf.summary.image("target", target, step=step, max_outputs=count)
    tf.summary.image("inverse_depth", np.stack([pictures.colorize_inverse_depth(d) for d in inv_depth]),
                     step=step, max_outputs=count)
    tf.summary.image("warped_frame_1_into_2", warped[:, 0], step=step, max_outputs=count)
    tf.summary.image("warped_frame_3_into_2", warped[:, 1], step=step, max_outputs=count)


