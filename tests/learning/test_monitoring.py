"""The collapse watch of the progress line (ddvo_tf/learning/monitoring.py): a collapsed map is
named, the flat start is not, and only a lasting collapse is said, not on every step."""
from ddvo_tf.learning import monitoring


def test_collapse_is_reported_on_the_progress_line():
    flat = {"inv_depth_spread": 0.002, "saturated_high": 1.0, "mean_inv_depth": 10.01}
    healthy = {"inv_depth_spread": 0.3, "saturated_high": 0.0, "mean_inv_depth": 1.1}
    assert "collapsing" in monitoring.collapse_warning(flat, 400, 600)
    assert monitoring.collapse_warning(healthy, 400, 600) is None
    assert monitoring.collapse_warning(flat, 10, 600) is None          # the heads start flat on purpose


def test_only_a_lasting_collapse_is_said_and_then_not_on_every_step():
    flat = {"inv_depth_spread": 0.005, "saturated_high": 0.0, "mean_inv_depth": 1.0}
    healthy = {"inv_depth_spread": 0.3, "saturated_high": 0.0, "mean_inv_depth": 1.1}
    watch = monitoring.CollapseWatch(steps=250)
    # a flat spell just past the grace period, as the quick run's flat-started heads grow apart: silent
    said = [watch.update(flat if 50 <= step < 58 else healthy, step) for step in range(1, 120)]
    assert not any(said) and not watch.collapsed
    watch = monitoring.CollapseWatch(steps=250)
    said = {step: watch.update(flat, step) for step in range(50, 250)}
    warned = [step for step, message in said.items() if message]
    assert warned == [50 + monitoring.SUSTAINED_FLAT - 1, 50 + monitoring.SUSTAINED_FLAT - 1 + monitoring.WARN_EVERY]
    assert watch.collapsed and "collapsing" in said[warned[0]]
    assert watch.update(healthy, 250) is None and not watch.collapsed
