"""DDVO's budget: Gauss-Newton iterations per level, and the share of the finest level's pixels.

Free of TensorFlow so that ``config.py`` (checked by ``train.py`` before TensorFlow loads) and the
DDVO layer share one rule.

A budget is one count for every pyramid level (an int or a one-entry list), or a list of counts,
finest level first, whose first ``num_levels`` entries are used: one list then serves the 5-level
``ddvo`` and the 3-level ``hybrid`` settings.
"""
from __future__ import annotations

import numbers
from typing import Optional, Sequence, Union

Iterations = Union[int, Sequence[int]]
# The default budget: the authors' 10 per level, and three times that at the coarsest level, which
# decides the basin for a solve from the identity and costs least (1/256 of the pixels at 5 levels):
# with 10 there, a street pair with 1.4 m forward motion and 2.9 deg of yaw ended in the
# yaw-for-sideways-translation minimum (93 % translation error, every objective); with 30 it
# converged (bench/results/ddvo_objective.md, sixth round).
DEFAULT_ITERATIONS = 10
COARSEST_ITERATIONS = 30
# Shares of a level's pixels DDVO may keep (ddvo_level.textured_pixels): 4, 2 or 1 of each 2x2 block.
PIXEL_SHARES = (1.0, 0.5, 0.25)


def check_pixel_share(pixel_share: float, name: str = "pixel_share") -> None:
    """Raise a ``ValueError`` naming ``name`` and the choices unless ``pixel_share`` is one of them."""
    if pixel_share not in PIXEL_SHARES:
        raise ValueError(f"{name} must be one of {PIXEL_SHARES}, got {pixel_share!r}")


def default_iterations(num_levels: int) -> tuple[int, ...]:
    """The default budget of a ``num_levels`` pyramid, finest first (:data:`COARSEST_ITERATIONS`
    at the coarsest of two or more levels, :data:`DEFAULT_ITERATIONS` elsewhere)."""
    if num_levels < 2:
        return (DEFAULT_ITERATIONS,) * num_levels
    return (DEFAULT_ITERATIONS,) * (num_levels - 1) + (COARSEST_ITERATIONS,)


def level_iterations(num_iterations: Optional[Iterations], num_levels: int) -> tuple[int, ...]:
    """Gauss-Newton iterations of each of ``num_levels`` pyramid levels, finest first (``None``:
    :func:`default_iterations`).

    Raises ``ValueError`` for a list shorter than ``num_levels`` (and longer than one) or a
    negative count."""
    if num_iterations is None:
        return default_iterations(num_levels)
    counts = as_counts(num_iterations)
    if len(counts) == 1:
        counts *= num_levels
    elif len(counts) < num_levels:
        raise ValueError(f"num_iterations {list(counts)} gives {len(counts)} pyramid levels "
                         f"(finest first), {num_levels} needed")
    return counts[:num_levels]


def as_counts(num_iterations: Iterations) -> tuple[int, ...]:
    """``num_iterations`` as a non-empty tuple of non-negative ints (an int becomes a 1-tuple)."""
    if isinstance(num_iterations, numbers.Integral):
        num_iterations = [num_iterations]
    counts = tuple(int(n) for n in num_iterations)
    if not counts or min(counts) < 0:
        raise ValueError(f"num_iterations must be one or more counts >= 0, got {num_iterations}")
    return counts
