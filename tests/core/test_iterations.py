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
