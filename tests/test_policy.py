"""The restart policy as pure logic, with an injected `now`: no sleeping."""

import random

from tui_monitor.policy import PolicySettings, RestartPolicy


def test_counts_restarts_in_a_sliding_window() -> None:
    policy = RestartPolicy(PolicySettings(max_restarts=3, restart_window=10))
    for t in (0, 1, 2):
        assert not policy.exhausted(t)
        policy.record_restart(t)
    assert policy.exhausted(3)
    assert policy.count(3) == 3
    # The first restart leaves the window at t=10: one more is allowed again.
    assert policy.count(10.5) == 2
    assert not policy.exhausted(10.5)


def test_late_crashes_count_too() -> None:
    """Crashes long after start are counted (supervisord only counts early ones)."""
    policy = RestartPolicy(PolicySettings(max_restarts=2, restart_window=3600))
    policy.record_restart(100)
    policy.record_restart(2000)
    assert policy.exhausted(3000)


def test_zero_max_restarts_gives_up_at_once() -> None:
    assert RestartPolicy(PolicySettings(max_restarts=0)).exhausted(0)


def test_constant_delay_by_default() -> None:
    policy = RestartPolicy(PolicySettings(restart_delay=60, max_restarts=10))
    for t in range(5):
        assert policy.next_delay(t) == 60
        policy.record_restart(t)


def test_exponential_backoff_is_capped() -> None:
    policy = RestartPolicy(
        PolicySettings(restart_delay=1, backoff_factor=2, backoff_max=5, max_restarts=10)
    )
    delays = []
    for t in range(5):
        delays.append(policy.next_delay(t))
        policy.record_restart(t)
    assert delays == [1, 2, 4, 5, 5]


def test_jitter_stays_within_its_fraction() -> None:
    policy = RestartPolicy(
        PolicySettings(restart_delay=10, restart_jitter=0.5), rng=random.Random(7)
    )
    delays = {policy.next_delay(0) for _ in range(200)}
    assert min(delays) >= 10
    assert max(delays) <= 15
    assert len(delays) > 100  # really spread out


def test_reset_forgets_history() -> None:
    policy = RestartPolicy(PolicySettings(max_restarts=1, restart_window=100))
    policy.record_restart(0)
    assert policy.exhausted(1)
    policy.reset()
    assert not policy.exhausted(1)
    assert "gave up" in policy.describe_giving_up()
