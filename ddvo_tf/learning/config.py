"""Every training option in one dataclass; ``train.py`` maps its flags onto it and the run saves
it as ``config.json`` beside the model.

The four modes of the paper (Section 5.1) differ only in where the pose comes from and whether
inverse depth is normalized:

==========  ==================================================  ==============  =================
mode        pose of frames 1, 3 relative to frame 2             normalization   DDVO levels
==========  ==================================================  ==============  =================
baseline    Pose-CNN (trained)                                  off             --
posecnn     Pose-CNN (trained)                                  on              --
ddvo        DDVO from the identity                              on              5 (coarse-to-fine)
hybrid      DDVO from a pretrained, frozen Pose-CNN's pose      on              3 (paper: 1)
==========  ==================================================  ==============  =================
"""
from __future__ import annotations

import dataclasses
import json

from ddvo_tf.core.iterations import as_counts, check_pixel_share, level_iterations

MODES = ("baseline", "posecnn", "ddvo", "hybrid")
# hybrid's refinement from the Pose-CNN's pose: the paper runs the finest level only; from a
# Pose-CNN-like start that does not converge in 10 iterations, three levels do
# (bench/bench_ddvo_accuracy.py, bench/results/ddvo_objective.md).
HYBRID_DDVO_LEVELS = 3
STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass
class TrainConfig:
    mode: str = "hybrid"
    data_dir: str | None = None            # TFRecord build; None: the built-in synthetic drive
    model_dir: str = "runs/ddvo"
    steps: int | None = None               # total steps of this mode; None: from epochs
    epochs: float | None = None            # None: the paper's 10 (baseline, posecnn, ddvo); hybrid fine-tunes 2
    batch_size: int = 1                    # paper: 1
    learning_rate: float = 1e-4            # Adam, beta = (0.9, 0.999)
    smoothness_weight: float = 0.01        # lambda
    height: int = 128
    width: int = 416
    normalize: bool | None = None          # None: off for baseline, on otherwise
    normalized_mean: float = 10.0          # eta's target mean (authors: 10; Eq. 7 reads 1, BUILD_NOTES.md)
    normalize_scope: str = "finest"        # eta divides every scale by the finest's clip mean
    smoothness_maps: str = "authors"       # which maps Eq. 16 regularizes (losses.prior_loss)
    depth_head_init: str = "zeros"         # inverse-depth heads start flat at scale_anchor
    depth_padding: str = "zeros"           # Depth-CNN border: zeros (paper) or symmetric (no dark side bands)
    scale_anchor: float = 1.0              # raw mean inverse depth the gauge term pins (eta on only)
    scale_anchor_weight: float = 0.1       # its weight; 0 turns it off
    width_multiplier: float = 1.0          # channel scale of both networks (tests: narrow)
    init_checkpoint: str | None = None     # hybrid: a posecnn run's model_dir (or checkpoint)
    pretrain_epochs: float = 10.0          # hybrid without init_checkpoint: posecnn stage length
    pretrain_steps: int | None = None
    ddvo_levels: int | None = None         # None: 5 for ddvo, 3 for hybrid (paper: 1; BUILD_NOTES.md)
    # Gauss-Newton iterations per level, finest first (hybrid's 3 levels use the first three): the
    # coarse levels decide the basin and are cheap, the finest is most of DDVO's cost; 30 at the
    # coarsest, where a large motion needs them (bench/results/ddvo_objective.md); one number sets
    # every level (authors: 10).
    ddvo_iterations: int | tuple[int, ...] = (5, 6, 10, 15, 30)
    ddvo_gradient: str = "implicit"        # or "unrolled" (through every iteration, as the authors)
    ddvo_robust: str = "student_t"         # DDVO's penalty: student_t, huber or none (the paper's L2)
    ddvo_photometric: str = "gain"         # DDVO matches exposure by a per-channel gain, or "none"
    # Of the layer's pose-accuracy defaults, training takes the re-weighted H (a better hybrid
    # Depth-CNN, an equal ddvo one); bicubic warps with the occlusion test trained a worse one
    # (bench/results/accuracy.md); opt in with the flags.
    ddvo_interpolation: str = "bilinear"   # DDVO's warp of the source: bilinear (paper) or bicubic
    ddvo_occlusion: bool = False           # DDVO drops points hidden behind nearer ones (paper: no)
    ddvo_weight_hessian: bool = True       # DDVO re-weights H every iteration (authors: fixed H)
    ddvo_pixel_share: float = 1.0          # share of DDVO's finest-level pixels used (1, 0.5, 0.25)
    augment: bool = True
    seed: int = 0
    jit_compile: bool = False              # XLA for the loss and gradients (DDVO is compiled anyway)
    precision: str = "float32"             # networks' compute: float32, bf16 or fp16 (mixed)
    strategy: str = "default"              # tf.distribute: default, mirrored, multi_worker
    summary_every: int = 20
    image_every: int = 200
    checkpoint_every: int = 500
    keep_checkpoints: int = 2              # newest checkpoints kept (the NaN guard steps back one)
    export: bool = True                    # SavedModel + depth pictures at the end

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.precision not in ("float32", "bf16", "fp16"):
            raise ValueError(f"precision must be float32, bf16 or fp16, got {self.precision!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.ddvo_gradient not in ("implicit", "unrolled"):
            raise ValueError(f"ddvo_gradient must be 'implicit' or 'unrolled', got {self.ddvo_gradient!r}")
        for name, allowed in (("normalize_scope", ("finest", "per_scale")),
                              ("smoothness_maps", ("authors", "halvings")),
                              ("depth_head_init", ("zeros", "glorot")),
                              ("depth_padding", ("zeros", "symmetric")),
                              ("ddvo_robust", ("student_t", "huber", "none")),
                              ("ddvo_photometric", ("gain", "none")),
                              ("ddvo_interpolation", ("bicubic", "bilinear"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        try:   # a list (also from config.json) -> tuple; one count -> int
            counts = as_counts(self.ddvo_iterations)
            if self.uses_ddvo:
                level_iterations(counts, self.num_ddvo_levels)
        except (TypeError, ValueError):
            shown = (",".join(map(str, self.ddvo_iterations)) if isinstance(self.ddvo_iterations, (list, tuple))
                     else self.ddvo_iterations)
            raise ValueError(f"--ddvo_iterations={shown}: one count for every level, or "
                             f"at least {self.num_ddvo_levels} counts (one per DDVO level, finest first), "
                             f"each >= 0") from None
        self.ddvo_iterations = counts[0] if len(counts) == 1 else counts
        check_pixel_share(self.ddvo_pixel_share, "ddvo_pixel_share")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1 (resume needs the latest), got {self.keep_checkpoints}")
        if self.batch_size < 1:
            raise ValueError(f"--batch_size must be >= 1, got {self.batch_size}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value < 16 or value % 8:
                lower, upper = max(16, value // 8 * 8), max(16, -(-value // 8) * 8)
                nearest = f"{lower} or {upper}" if lower != upper else f"{upper}"
                raise ValueError(f"--{name}={value}: the {name} must be a multiple of 8 and at least 16 "
                                 f"(its four output scales halve it three times); use {nearest}")

    @property
    def num_epochs(self) -> float:
        if self.epochs is not None:
            return float(self.epochs)
        return 2.0 if self.mode == "hybrid" else 10.0   # Section 5.1

    @property
    def use_normalization(self) -> bool:
        return self.mode != "baseline" if self.normalize is None else bool(self.normalize)

    @property
    def num_ddvo_levels(self) -> int:
        if self.ddvo_levels is not None:
            return self.ddvo_levels
        return 5 if self.mode == "ddvo" else HYBRID_DDVO_LEVELS

    @property
    def uses_pose_net(self) -> bool:
        return self.mode != "ddvo"

    @property
    def uses_ddvo(self) -> bool:
        return self.mode in ("ddvo", "hybrid")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"
