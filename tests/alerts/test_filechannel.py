"""The mailbox file channel (`hvfile://`), through apprise as every channel is sent."""

from __future__ import annotations

from fhir_api.alerts.delivery import apprise_send, channel_url
from fhir_api.alerts.filechannel import file_url


def test_messages_are_appended_owner_only_with_their_recipient(tmp_path):
    mailbox = tmp_path / "notifications.log"
    url = channel_url(file_url(mailbox), "demo-caremanager")
    apprise_send(url, "【緊急】血圧が著しく高値 — 田中 花子", "最新: 血圧 186/98 mmHg")
    apprise_send(url, "【解消】血圧が著しく高値 — 田中 花子", "最新: 血圧 128/78 mmHg")
    text = mailbox.read_text(encoding="utf-8")
    assert text.count(" to demo-caremanager\n") == 2
    assert "【緊急】血圧が著しく高値 — 田中 花子\n最新: 血圧 186/98 mmHg" in text
    assert text.index("【緊急】") < text.index("【解消】")
    assert mailbox.stat().st_mode & 0o777 == 0o600
