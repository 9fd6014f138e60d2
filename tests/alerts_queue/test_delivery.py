"""Messages reach a real SMTP server and a real webhook once each; a channel that is down
gets them later, with every attempt recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fhir_api.alerts import delivery, outbox
from fhir_api.alerts import store as alert_store
from fhir_api.alerts.worker import evaluate_next
from fhir_api.storage.schema import alert_notifications

from ..services import free_port
from .conftest import Clock, alerting_service, new_patient, reading, rows, with_clock
from .evaluator import NURSE, CountingEvaluator
from .receivers import smtp_server, webhook_receiver


def channels(smtp_port: int, hook_port: int) -> dict[str, str]:
    return {
        "clinic-mail": f"mailto://127.0.0.1:{smtp_port}?from=alerts@clinic.example",
        "ops-hook": f"json://127.0.0.1:{hook_port}/homevitals",
    }


def reach_nurse(store) -> None:
    with store.transaction() as tx:
        alert_store.set_recipient_channel(
            tx.connection, NURSE, "clinic-mail", "nurse@clinic.example"
        )
        alert_store.set_recipient_channel(tx.connection, NURSE, "ops-hook", None)


def test_each_message_arrives_once_by_mail_and_webhook_grouped_per_occasion(store):
    reach_nurse(store)
    service = alerting_service(store)
    patient_id = new_patient(service)
    # One occasion, two urgent readings (JSH: two per occasion), and one on another day.
    reading(service, patient_id, 185, "2026-11-30T07:00:00+09:00")
    reading(service, patient_id, 190, "2026-11-30T07:01:00+09:00")
    reading(service, patient_id, 200, "2026-11-29T07:00:00+09:00")
    assert evaluate_next(store, CountingEvaluator()) == (patient_id, 3)
    with smtp_server() as (smtp_port, mailbox), webhook_receiver() as (hook_port, hooks):
        sent = delivery.deliver_due(store, channels(smtp_port, hook_port), "sender-1")
        again = delivery.deliver_due(store, channels(smtp_port, hook_port), "sender-1")
    assert (sent, again) == (delivery.Round(sent=4), delivery.Round())
    assert sorted(m["title"] for m in hooks) == [
        "HomeVitals: 2 alerts",
        "Urgent: blood pressure 200 mmHg",
    ]
    assert [to for to, _ in mailbox.messages] == [["nurse@clinic.example"]] * 2
    grouped = next(m for _, m in mailbox.messages if m["Subject"] == "HomeVitals: 2 alerts")
    text = grouped.get_body(("plain",)).get_content()
    assert "185 mmHg" in text and "190 mmHg" in text
    assert f"https://clinic.example/patients/{patient_id}" in text
    assert all(r.sent_ms is not None and r.attempts == 1 for r in rows(store, alert_notifications))


def test_a_channel_that_is_down_gets_the_message_when_it_is_back(store):
    clock = Clock()
    timed = with_clock(store, clock)
    reach_nurse(timed)
    service = alerting_service(timed)
    patient_id = new_patient(service)
    reading(service, patient_id, 195)
    now = datetime.fromtimestamp(clock.now, UTC)
    evaluate_next(timed, CountingEvaluator(), lambda: now)
    hook_port = free_port()  # nothing listens there yet
    with smtp_server() as (smtp_port, mailbox):
        down = delivery.deliver_due(timed, channels(smtp_port, hook_port), "sender-1")
        assert down == delivery.Round(sent=1, failed=1)
        [hook_row] = [r for r in rows(timed, alert_notifications) if r.channel == "ops-hook"]
        assert (hook_row.attempts, hook_row.sent_ms) == (1, None)
        assert "127.0.0.1" in hook_row.last_error  # why it failed, for whoever looks
        clock.now += 0.5  # before the retry is due: not tried
        assert delivery.deliver_due(timed, channels(smtp_port, hook_port), "s") == delivery.Round()
        clock.now += 1.0
        assert delivery.deliver_due(timed, channels(smtp_port, hook_port), "s").failed == 1
        with webhook_receiver(hook_port) as (_, hooks):
            clock.now += 2.1  # the second retry, 2 s after the second failure
            back = delivery.deliver_due(timed, channels(smtp_port, hook_port), "sender-2")
    assert back == delivery.Round(sent=1)
    assert [m["title"] for m in hooks] == ["Urgent: blood pressure 195 mmHg"]
    assert len(mailbox.messages) == 1
    [hook_row] = [r for r in rows(timed, alert_notifications) if r.channel == "ops-hook"]
    assert hook_row.attempts == 3 and hook_row.sent_ms is not None


def test_a_channel_missing_from_the_configuration_is_recorded_and_kept(store):
    reach_nurse(store)
    service = alerting_service(store)
    reading(service, new_patient(service), 199)
    evaluate_next(store, CountingEvaluator())
    assert delivery.deliver_due(store, {}, "sender-1") == delivery.Round(failed=2)
    assert {r.last_error for r in rows(store, alert_notifications)} == {
        "channel 'clinic-mail' is not configured",
        "channel 'ops-hook' is not configured",
    }


def test_a_lapsed_claim_is_taken_by_another_sender(store):
    """A sender that died holding a claim: the message goes out once its claim lapses."""
    with store.transaction() as tx:
        outbox.enqueue(tx.connection, outbox.Message(NURSE, "ops-hook", None, "k", 0, {}), 0)
        [claimed] = outbox.claim(tx.connection, "dead", 1_000, 60_000)
    with store.transaction() as tx:
        assert outbox.claim(tx.connection, "alive", 60_999, 60_000) == []
        [retaken] = outbox.claim(tx.connection, "alive", 61_001, 60_000)
        assert not outbox.mark_sent(tx.connection, claimed.id, "dead", 61_002)
        assert outbox.mark_sent(tx.connection, retaken.id, "alive", 61_002)
    assert retaken.attempts == 2


@pytest.mark.parametrize(
    ("attempts", "delay"), [(1, 1_000), (2, 2_000), (5, 16_000), (20, 1_800_000), (60, 1_800_000)]
)
def test_retries_back_off_to_half_an_hour(attempts, delay):
    assert outbox.retry_delay(attempts) == delay


@pytest.mark.parametrize(
    ("base", "address", "url"),
    [
        ("mailto://smtp.example?from=a@b", "n@c", "mailto://smtp.example?from=a@b&to=n%40c"),
        ("mailtos://u:p@smtp.example", "n@c", "mailtos://u:p@smtp.example?to=n%40c"),
        ("json://hooks.example/x", "n@c", "json://hooks.example/x"),
        ("mailto://smtp.example", None, "mailto://smtp.example"),
    ],
)
def test_a_mail_recipient_address_goes_in_the_channel_url(base, address, url):
    assert delivery.channel_url(base, address) == url


def message(key: str, due_ms: int, n: int) -> outbox.Message:
    return outbox.Message(NURSE, "ops-hook", None, key, due_ms, {"title": f"alert {n}"})


def test_items_with_one_grouping_key_make_one_message_until_it_is_claimed(store):
    with store.transaction() as tx:
        first = outbox.enqueue(tx.connection, message("occasion-1", 5_000, 1), 1_000)
        assert outbox.enqueue(tx.connection, message("occasion-1", 2_000, 2), 1_001) == first
        other = outbox.enqueue(tx.connection, message("occasion-2", 2_000, 3), 1_002)
    assert other != first
    with store.transaction() as tx:
        claimed = outbox.claim(tx.connection, "s", 2_000, 60_000)
    # The group's due time is its earliest item's; both are due at 2 000.
    assert sorted(len(c.items) for c in claimed) == [1, 2]
    with store.transaction() as tx:  # on its way: a later item makes a message of its own
        assert outbox.enqueue(tx.connection, message("occasion-1", 2_500, 4), 2_001) not in (
            first,
            other,
        )


def test_a_message_held_back_is_not_sent_before_it_is_due(store):
    """Quiet hours and digests: the rules give a later due time."""
    with store.transaction() as tx:
        outbox.enqueue(tx.connection, message("digest-2026-11-30", 10_000, 1), 1_000)
        assert outbox.claim(tx.connection, "s", 9_999, 60_000) == []
        assert not outbox.due_now(tx.connection, 9_999)
        assert outbox.due_now(tx.connection, 10_000)
        assert len(outbox.claim(tx.connection, "s", 10_000, 60_000)) == 1


def test_a_channel_outside_the_clinic_gets_no_identifying_data(store):
    reach_nurse(store)
    service = alerting_service(store)
    patient_id = new_patient(service)
    reading(service, patient_id, 220)
    evaluate_next(store, CountingEvaluator())
    with smtp_server() as (smtp_port, mailbox), webhook_receiver() as (hook_port, hooks):
        delivery.deliver_due(
            store, channels(smtp_port, hook_port), "sender-1", anonymous={"ops-hook"}
        )
    [hook] = hooks
    assert (hook["title"], hook["message"]) == (
        "HomeVitals: 1 alert",
        "1 alert (urgent). Open HomeVitals to see them.",
    )
    [(_, mail)] = mailbox.messages  # the clinic's own mail says what and who
    assert patient_id in mail.get_body(("plain",)).get_content()


def test_anonymous_channels_must_be_configured_channels(tmp_path):
    from pydantic import ValidationError

    from fhir_api.settings import Settings

    with pytest.raises(ValidationError, match="names no channel: lien"):
        Settings(
            data_dir=tmp_path,
            notify_channels={"line": "line://token/user"},
            notify_anonymous_channels=["lien"],
        )
