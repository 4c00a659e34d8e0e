"""What the progress line says about the depth map while training: whether it has collapsed (gone
flat, or to the Depth-CNN sigmoid's ceiling), which training at the paper's settings did before the
recipe of bench/results/collapse.md.  Reads the scalars of ``DepthLearner.compute_losses``
(``inv_depth_spread``, ``saturated_high``, ``mean_inv_depth``); no TensorFlow.
"""
from __future__ import annotations


FLAT_SPREAD = 0.01        # coefficient of variation of the normalized map below which it is flat
COLLAPSED_HIGH = 0.5      # share of pixels at the sigmoid's ceiling
SUSTAINED_FLAT = 50       # steps a map must stay flat to count as collapsed (a passing flat spell is not)
WARN_EVERY = 100          # steps between repeated warnings


def collapse_warning(result: dict, step: int, steps: int) -> str | None:
    """A one-line warning when this step's depth map is flat or at the sigmoid's ceiling (after the
    first steps: the heads start flat on purpose), else None.  :class:`CollapseWatch` decides
    whether it lasted long enough to be said."""
    if step < min(200, max(steps // 5, 1)):
        return None
    spread, high = float(result["inv_depth_spread"]), float(result["saturated_high"])
    if spread < FLAT_SPREAD or high > COLLAPSED_HIGH:
        return (f"step {step}: the depth map is collapsing (normalized spread {spread:.4f}, {high:.0%} of pixels "
                f"at the sigmoid's ceiling, raw mean inverse depth {float(result['mean_inv_depth']):.3f}); "
                "check --scale_anchor_weight (> 0) and --depth_head_init=zeros (bench/results/collapse.md)")
    return None


class CollapseWatch:
    """Turns :func:`collapse_warning` into what the progress line says: ``collapsed`` once the map
    has looked collapsed for ``SUSTAINED_FLAT`` consecutive steps (a short flat spell while the
    flat-started heads grow apart is normal), and a message to print then and every ``WARN_EVERY``
    steps while it lasts."""

    def __init__(self, steps: int):
        self.steps = steps
        self.since: int | None = None
        self.warned_at = -10 ** 9
        self.collapsed = False

    def update(self, result: dict, step: int) -> str | None:
        warning = collapse_warning(result, step, self.steps)
        if warning is None:
            self.since, self.collapsed = None, False
            return None
        self.since = step if self.since is None else self.since
        self.collapsed = step - self.since + 1 >= SUSTAINED_FLAT
        if self.collapsed and step - self.warned_at >= WARN_EVERY:
            self.warned_at = step
            return warning
        return None
