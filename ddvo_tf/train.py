"""Train depth from monocular video: ``python -m ddvo_tf.train --mode=hybrid --data_dir=...`` (also
installed as ``ddvo-train``).

Modes (paper, Section 5.1; table in ``ddvo_tf/learning/config.py``): ``baseline``, ``posecnn``, ``ddvo``,
``hybrid`` (default; without ``--init_checkpoint`` it first trains the ``posecnn`` stage).

Without ``--data_dir`` the built-in synthetic street is rendered in the KITTI raw layout, built
into clips (cached under ``--synthetic_dir``) and used for a short run sized for a CPU: 64x208
frames, half-width networks, a mirrored (symmetric) border in the Depth-CNN and a few hundred
steps, unless those flags are given.  The paper's KITTI settings are the flag defaults otherwise
(128x416, batch 1, Adam 1e-4, lambda 0.01, 10 epochs).

The run resumes when started again with the same ``--model_dir``.  At the end the Depth-CNN is
exported (``MODEL_DIR/saved_model``) with a few depth pictures of its clips; the quick run also
scores and pictures a held-out synthetic street with exact depth.
"""
from __future__ import annotations

import os
import sys

from absl import flags

from ddvo_tf import cli
from ddvo_tf.learning.config import MODES, TrainConfig

FLAGS = flags.FLAGS
flags.DEFINE_enum("mode", "hybrid", MODES, "Pose source and normalization (see ddvo_tf/learning/config.py).")
flags.DEFINE_string("data_dir", None, "Folder of a pipelines.build output; omit for the built-in synthetic data.")
flags.DEFINE_string("model_dir", "runs/ddvo", "Checkpoints, TensorBoard, SavedModel and pictures go here.")
flags.DEFINE_float("epochs", None, "Training length in epochs of the train split (default: the paper's 10; "
                   "hybrid fine-tunes 2, Section 5.1).")
flags.DEFINE_integer("steps", None, "Training length in steps (overrides --epochs).")
flags.DEFINE_integer("batch_size", 1, "Clips per step (paper: 1).")
flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate (betas 0.9, 0.999).")
flags.DEFINE_float("smoothness_weight", 0.01, "lambda of the smoothness term (Eq. 15).")
flags.DEFINE_integer("height", 128, "Training frame height (multiple of 8).")
flags.DEFINE_integer("width", 416, "Training frame width (multiple of 8).")
flags.DEFINE_string("init_checkpoint", None, "hybrid: a posecnn run's model_dir to start from.")
flags.DEFINE_enum("normalize", "auto", ["auto", "on", "off"],
                  "Inverse-depth normalization eta (Eq. 7); auto = off for baseline, on otherwise.")
flags.DEFINE_float("normalized_mean", 10.0, "Mean inverse depth of a clip after normalization (the authors' "
                   "10: the Pose-CNN's 0.01-scaled output then meets translations of the right size).")
flags.DEFINE_enum("normalize_scope", "finest", ["finest", "per_scale"],
                  "eta divides every output scale by the finest scale's clip mean (authors), or each by its own.")
flags.DEFINE_enum("smoothness_maps", "authors", ["authors", "halvings"],
                  "Maps the smoothness prior sees: the finest map's 1/4 and 1/8 downsamples plus the network's "
                  "own 1/4 and 1/8 outputs, weighted 1/2^level (authors); or every scale halved three times.")
flags.DEFINE_enum("depth_head_init", "zeros", ["zeros", "glorot"],
                  "Initial inverse-depth head kernels: zeros (flat map at the sigmoid's centre) or Glorot.")
flags.DEFINE_enum("depth_padding", "zeros", ["zeros", "symmetric"],
                  "Depth-CNN convolutions pad the border with zeros (the paper's network) or by mirroring "
                  "(symmetric: no dark 'far' bands down the image sides; BUILD_NOTES.md).")
flags.DEFINE_float("scale_anchor", 1.0, "Raw mean inverse depth (before eta) that the gauge term pins and the "
                   "inverse-depth heads start at; inside the sigmoid's range (0.01, 10.01).")
flags.DEFINE_float("scale_anchor_weight", 0.1, "Weight of the gauge term (log raw mean - log anchor)^2; 0 = off.")
flags.DEFINE_float("width_multiplier", 1.0, "Channel multiplier of both networks.")
flags.DEFINE_float("pretrain_epochs", 10.0, "hybrid without --init_checkpoint: posecnn stage epochs.")
flags.DEFINE_integer("pretrain_steps", None, "... or steps (overrides --pretrain_epochs).")
flags.DEFINE_integer("ddvo_levels", None, "DDVO pyramid levels (default 5 for ddvo, 3 for hybrid; the paper's "
                     "hybrid used 1).")
flags.DEFINE_list("ddvo_iterations", [str(n) for n in TrainConfig.ddvo_iterations],
                  "Gauss-Newton iterations per DDVO level, finest first (hybrid's 3 levels use the first "
                  "three), or one number for every level (the authors': 10).")
flags.DEFINE_enum("ddvo_gradient", "implicit", ["implicit", "unrolled"],
                  "Gradient of the DDVO pose w.r.t. depth: implicit (at the converged pose, ~3x cheaper) "
                  "or unrolled through every Gauss-Newton iteration (the authors' code).")
flags.DEFINE_enum("ddvo_robust", "student_t", ["student_t", "huber", "none"],
                  "DDVO's penalty of photometric residuals: Student-t or Huber weights (re-weighted "
                  "Gauss-Newton) or none, the paper's plain least squares. Student-t trains the lowest "
                  "abs rel, but in ddvo mode puts depth beyond ~40 m too near (higher RMSE); huber less "
                  "so, none not at all (bench/results/accuracy.md).")
flags.DEFINE_enum("ddvo_photometric", "gain", ["gain", "none"],
                  "DDVO matches the source's exposure to the reference by a per-channel gain, or not.")
flags.DEFINE_enum("ddvo_interpolation", "bilinear", ["bilinear", "bicubic"],
                  "How DDVO samples the source image at the warped points: bilinear (the paper's) or "
                  "bicubic (more accurate poses; not yet shown to train better, BUILD_NOTES.md).")
flags.DEFINE_bool("ddvo_occlusion", False, "DDVO drops reference points hidden behind nearer ones in the "
                  "source view (z-buffer at the two finest levels; more accurate poses, not yet shown to "
                  "train better).")
flags.DEFINE_bool("ddvo_weight_hessian", True, "DDVO re-weights its Gauss-Newton Hessian every iteration "
                  "(exact Gauss-Newton); --noddvo_weight_hessian keeps the authors' fixed one.")
flags.DEFINE_enum("ddvo_pixel_share", str(TrainConfig.ddvo_pixel_share), ["1.0", "0.5", "0.25"],
                  "Share of DDVO's finest-level pixels it solves with: in every 2x2 block all, the 2 or "
                  "the 1 of largest image gradient (the finest level is most of DDVO's time).")
flags.DEFINE_bool("augment", True, "Scale-and-crop, flip and colour augmentation.")
flags.DEFINE_integer("seed", 0, "Seed of data order and augmentation.")
flags.DEFINE_enum("jit_compile", "auto", ["auto", "on", "off"],
                  "XLA for the loss and gradient computation (DDVO is compiled regardless); auto = on "
                  "with a GPU, off on a CPU (slower there, BUILD_NOTES.md).")
flags.DEFINE_enum("mixed_precision", "auto", ["auto", "off", "bf16", "fp16"],
                  "Networks' compute precision (weights, DDVO, geometry and losses stay float32); auto = "
                  "bf16 on GPUs of compute capability >= 8, fp16 on 7.x, off otherwise (and on CPUs).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute: one device; all GPUs of this host; or several hosts (TF_CONFIG). "
                  "--batch_size is the global batch, split evenly over replicas.")
flags.DEFINE_integer("cpu_replicas", None, "Without GPUs: split the CPU into this many logical devices "
                     "for --strategy=mirrored (to try the distributed path on one machine).")
flags.DEFINE_integer("summary_every", 20, "Steps between TensorBoard scalars.")
flags.DEFINE_integer("image_every", 200, "Steps between TensorBoard images.")
flags.DEFINE_integer("checkpoint_every", 500, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", 2, "Newest checkpoints kept per stage (~100 MB each at --width_multiplier=0.5, "
                     "~380 MB at 1); 1 is enough to resume, 2 lets a run stopped by a non-finite loss step back.")
flags.DEFINE_string("synthetic_dir", os.path.join(os.path.expanduser("~"), ".cache", "ddvo_tf", "synthetic_v4"),
                    "Where the built-in synthetic data is rendered and built (reused).")

# The built-in quick run: flags the user did not set take these values.
BUILTIN_DEFAULTS = {"height": 64, "width": 208, "width_multiplier": 0.5, "batch_size": 4,
                    "steps": 150, "pretrain_steps": 250, "learning_rate": 2e-4,
                    "image_every": 50, "checkpoint_every": 100, "keep_checkpoints": 1,
                    "depth_padding": "symmetric"}


# A street the quick run never trains on (the training drives are seeds 0 and 1), for its held-out score.
HELD_OUT_DRIVE = {"num_frames": 12, "num_drives": 1, "seed": 97, "height": 128, "width": 416,
                  "cameras": ("image_02",), "velodyne": False, "stop_start": -1}

for _name, _value in BUILTIN_DEFAULTS.items():
    FLAGS[_name].help += f" Built-in quick run (no --data_dir): {_value}."


def builtin_data(synthetic_dir: str, height: int, width: int) -> str:
    """Render (once) and build (once per size) the built-in synthetic drives; returns the build."""
    from pipelines import job, synthetic   # the CLI may use pipelines; the library never does
    raw = os.path.join(synthetic_dir, "kitti_raw")
    output = os.path.join(synthetic_dir, f"clips_{height}x{width}")
    config = job.BuildConfig(dataset="synthetic", input=raw, output_dir=output, height=height, width=width,
                             workers=min(2, os.cpu_count() or 1),
                             synthetic=synthetic.SyntheticConfig(num_frames=100, height=128, width=416,
                                                                 num_drives=2, velodyne=False))
    if not os.path.isfile(os.path.join(output, "manifest.json")):
        job.build(config)
    return output


def config_from_flags(resolve_devices: bool = True) -> TrainConfig:
    """The TrainConfig of the command line; ``resolve_devices=False`` skips the choices that need
    TensorFlow (XLA and precision on ``auto``), for checking flags before it loads."""
    values = {name: FLAGS[name].value for name in (
        "mode", "data_dir", "model_dir", "epochs", "steps", "batch_size", "learning_rate",
        "smoothness_weight", "height", "width", "init_checkpoint", "normalized_mean", "width_multiplier",
        "normalize_scope", "smoothness_maps", "depth_head_init", "depth_padding", "scale_anchor", "scale_anchor_weight",
        "pretrain_epochs", "pretrain_steps", "ddvo_levels", "ddvo_iterations", "ddvo_gradient", "ddvo_robust",
        "ddvo_photometric", "ddvo_interpolation", "ddvo_occlusion", "ddvo_weight_hessian", "ddvo_pixel_share", "augment", "seed",
        "strategy", "summary_every", "image_every", "checkpoint_every", "keep_checkpoints")}
    try:
        values["ddvo_iterations"] = tuple(int(n) for n in FLAGS.ddvo_iterations)
    except ValueError:
        raise ValueError(f"--ddvo_iterations={','.join(FLAGS.ddvo_iterations)}: give whole numbers, "
                         "e.g. 10 or 5,6,10,15,30") from None
    values["ddvo_pixel_share"] = float(values["ddvo_pixel_share"])
    values["normalize"] = {"auto": None, "on": True, "off": False}[FLAGS.normalize]
    values["jit_compile"] = FLAGS.jit_compile == "on"
    values["precision"] = {"auto": None, "off": "float32"}.get(FLAGS.mixed_precision, FLAGS.mixed_precision)
    if resolve_devices:
        from ddvo_tf.learning import distribute
        if FLAGS.jit_compile == "auto":
            values["jit_compile"] = distribute.auto_jit_compile()
        if values["precision"] is None:
            values["precision"] = distribute.auto_precision()
    values["precision"] = values["precision"] or "float32"
    if FLAGS.data_dir is None:
        for name, value in BUILTIN_DEFAULTS.items():
            if not FLAGS[name].present:
                values[name] = value
    return TrainConfig(**values)


def held_out_drive(synthetic_dir: str) -> str:
    """Render (once) a short drive down a street the quick run never trains on, with exact depth."""
    from pipelines import synthetic
    root = os.path.join(synthetic_dir, "held_out")
    synthetic.generate(root, synthetic.SyntheticConfig(**HELD_OUT_DRIVE), workers=min(2, os.cpu_count() or 1))
    return root


def preflight() -> None:
    """The mistakes a typo makes, reported before TensorFlow loads (which takes seconds)."""
    if FLAGS.data_dir is not None and not os.path.isfile(os.path.join(FLAGS.data_dir, "manifest.json")):
        raise ValueError(f"--data_dir={FLAGS.data_dir}: {os.path.join(FLAGS.data_dir, 'manifest.json')} does not "
                         "exist, so it is not a finished build; "
                         f"run python -m pipelines.build ... --output_dir={FLAGS.data_dir} (it resumes), or omit "
                         "--data_dir for the built-in synthetic street")
    init = FLAGS.init_checkpoint
    if init and not (os.path.exists(init) or os.path.exists(init + ".index")):
        raise ValueError(f"--init_checkpoint={init} does not exist (expected a posecnn run's model_dir, its "
                         "checkpoints/ folder, or a checkpoint prefix)")
    config_from_flags(resolve_devices=False)     # flag values and combinations


def folder_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


def main(argv: list[str]) -> int:
    del argv
    try:
        preflight()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import numpy as np

    from ddvo_tf.data import reader
    from ddvo_tf.evaluation import exact_depth
    from ddvo_tf.learning.distribute import DistributeError, split_cpu
    from ddvo_tf.learning.runs import RunError
    from ddvo_tf.learning.training import TrainingError, train
    from ddvo_tf.serving.export import export_run
    from pipelines.sequences import DataError
    quick = FLAGS.data_dir is None
    try:
        if FLAGS.cpu_replicas:
            split_cpu(FLAGS.cpu_replicas)
        config = config_from_flags()
        if quick:
            print("no --data_dir: the built-in synthetic street "
                  f"({config.height}x{config.width}, cached in {FLAGS.synthetic_dir})")
            config.data_dir = builtin_data(FLAGS.synthetic_dir, config.height, config.width)
            held_out = held_out_drive(FLAGS.synthetic_dir)
        result = train(config)
        if config.export and result["chief"]:
            exported = export_run(result["model_dir"], with_pictures=True)
            result.update(saved_model=exported["saved_model"], pictures=exported["pictures"])
            print(f"exported {result['saved_model']} and {len(result['pictures'])} depth pictures")
        if quick and result.get("saved_model"):
            frames = exact_depth.frames_with_depth(held_out)
            predictions = exact_depth.predict(result["saved_model"], frames)
            learned = exact_depth.score(predictions)
            # The constant reference reuses the frames already read (exact_depth.predict's model=None case).
            constant = exact_depth.score([(rgb, truth, np.ones(truth.shape, np.float32))
                                          for rgb, truth, _ in predictions])
            pictures = exact_depth.write_pictures(predictions, result["model_dir"])
    except (TrainingError, RunError, reader.DatasetError, DataError, DistributeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    model_dir = result["model_dir"]
    print(f"done: {result['steps']} steps of {config.mode}; {model_dir} holds "
          f"{folder_size(model_dir) / 1e6:.0f} MB (checkpoints, TensorBoard logs, SavedModel, pictures)")
    if quick and result.get("saved_model"):
        print(f"held-out street ({len(frames)} frames of a street not trained on, exact depth): abs rel "
              f"{learned['abs_rel']:.3f}, a1 {learned['a1']:.3f}, log-depth correlation {learned['log_corr']:.2f} "
              f"(a constant depth: abs rel {constant['abs_rel']:.3f}, a1 {constant['a1']:.3f})")
        print(f"  image-specific correlation {learned['image_corr']:.2f} (of the log depth that changes from frame to "
              "frame: 1 = what is in front of the camera is seen, 0 = one fixed street layout for every frame)")
        print(f"pictures: {os.path.join(model_dir, 'held_out_0*.png')} ({len(pictures)}; frame | predicted | exact "
              "inverse depth, near = bright)")
    if result.get("saved_model"):
        print("next:\n"
              f"  tensorboard --logdir {model_dir}\n"
              f"  python -m ddvo_tf.predict --model={result['saved_model']} --input=YOUR_IMAGES_OR_VIDEO "
              "--output_dir=predictions")
    return 0


def console_main() -> None:
    cli.command(None, main)      # the flags are defined above, at import


if __name__ == "__main__":
    console_main()
