"""Issue 14: the outage warning is said once, after the configured time; recovery once after it."""

from gateway.feedback import OutageWatch, Situation


def test_a_short_hiccup_says_nothing():
    watch = OutageWatch(warn_after=600, started=0)
    assert watch.update(100, last_contact=50, last_failure=90) is None
    assert watch.update(200, last_contact=150, last_failure=90) is None


def test_warning_once_after_the_time_then_recovery_once():
    watch = OutageWatch(warn_after=600, started=0)
    assert watch.update(599, last_contact=0.0, last_failure=500) is None
    assert watch.update(600, last_contact=0.0, last_failure=590) is Situation.UNREACHABLE
    assert watch.update(900, last_contact=0.0, last_failure=890) is None  # said once
    assert watch.update(1000, last_contact=950, last_failure=890) is Situation.REACHABLE
    assert watch.update(1100, last_contact=1050, last_failure=890) is None


def test_no_warning_at_boot_before_the_time_has_passed_since_start():
    watch = OutageWatch(warn_after=600, started=1000)
    assert watch.update(1100, last_contact=None, last_failure=1050) is None
    assert watch.update(1600, last_contact=None, last_failure=1590) is Situation.UNREACHABLE


def test_quiet_hours_defer_the_warning_until_they_end():
    watch = OutageWatch(warn_after=600, started=0)
    assert watch.update(700, last_contact=0.0, last_failure=690, quiet=True) is None
    assert watch.update(800, last_contact=0.0, last_failure=790, quiet=False) is (
        Situation.UNREACHABLE
    )


def test_recovery_without_a_warning_is_not_said():
    watch = OutageWatch(warn_after=600, started=0)
    assert watch.update(300, last_contact=0.0, last_failure=200) is None
    assert watch.update(400, last_contact=350, last_failure=200) is None
