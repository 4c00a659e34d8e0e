"""The per-level DDVO budget rule (ddvo_tf/core/iterations.py), shared by the layer and TrainConfig."""

import numpy as np
import pytest

from ddvo_tf.core.iterations import as_counts, level_iterations


def test_one_count_serves_every_level_and_a_list_is_read_finest_first():
    assert level_iterations(4, 3) == (4, 4, 4)
    assert level_iterations(np.int64(4), 2) == (4, 4)
    assert level_iterations([7], 3) == (7, 7, 7)
    assert level_iterations((5, 6, 10, 15, 15), 3) == (5, 6, 10)
    assert level_iterations([0, 2], 2) == (0, 2)


@pytest.mark.parametrize("bad", [[5, 5], [], [3, -1, 2], -2])
def test_a_short_list_an_empty_one_or_a_negative_count_is_refused(bad):
    with pytest.raises(ValueError, match="finest first|>= 0"):
        level_iterations(bad, 3)


def test_counts_are_plain_ints():
    counts = as_counts([np.int32(3), 4.0])
    assert counts == (3, 4) and all(type(n) is int for n in counts)


def test_the_default_budget_gives_the_coarsest_of_several_levels_three_times_the_others():
    from ddvo_tf.core.iterations import default_iterations
    assert level_iterations(None, 5) == default_iterations(5) == (10, 10, 10, 10, 30)
    assert level_iterations(None, 2) == (10, 30)
    assert level_iterations(None, 1) == (10,)


def test_a_pixel_share_other_than_all_half_or_a_quarter_is_refused_by_name():
    from ddvo_tf.core.iterations import check_pixel_share
    check_pixel_share(0.5)
    with pytest.raises(ValueError, match="ddvo_pixel_share must be one of"):
        check_pixel_share(0.3, "ddvo_pixel_share")
