"""What an alert message says, in Japanese or English (pure): `item_payload(item, ...)`.

One `notify.Item` becomes one part of a message: a title (how severe, what, whose),
a body (the values, the time in the patient's zone, what happened to the alert) and
the link to the patient's page under the clinic's base URL. `delivery.render` puts the
parts of one message together; for a channel marked anonymous it uses only each
part's `severity` and says nothing identifying (the name and values below never
leave the server on such a channel).

The texts live here, not in the page catalogs: they are read by the worker, which
serves no page, and a message must never fall back to a page's untranslated string.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from babel.dates import format_date

from .call_me import CALL_ME_CONDITION
from .model import UNITS, ChangeKind, Kind, Severity
from .notify import Item

__all__ = ["LANGUAGES", "condition_text", "item_payload", "when_text"]

LANGUAGES = ("ja", "en")
_DATE = {"ja": "y年M月d日(E)", "en": "EEE d MMM y"}

_SEVERITY = {
    "ja": {Severity.URGENT: "緊急", Severity.WARNING: "注意", Severity.INFO: "お知らせ"},
    "en": {Severity.URGENT: "Urgent", Severity.WARNING: "Warning", Severity.INFO: "Info"},
}
_CONDITIONS = {
    "ja": {
        "bp-high": "家庭血圧が高値",
        "bp-urgent": "血圧が著しく高値",
        "spo2-low": "SpO2が低値",
        "spo2-urgent": "SpO2が著しく低値",
        "pulse-high": "脈拍が速い",
        "pulse-low": "脈拍が遅い",
        "pulse-urgent-high": "脈拍が著しく速い",
        "pulse-urgent-low": "脈拍が著しく遅い",
        "temperature-high": "発熱",
        "temperature-low": "体温が低い",
        "respiration-high": "呼吸数が多い",
        "respiration-very-high": "呼吸数が著しく多い",
        "respiration-low": "呼吸数が少ない",
        "weight-gain": "体重増加",
        "gateway-offline": "ゲートウェイからの通信なし",
        "call-me": "電話の依頼",
    },
    "en": {
        "bp-high": "High home blood pressure",
        "bp-urgent": "Very high blood pressure",
        "spo2-low": "Low SpO2",
        "spo2-urgent": "Very low SpO2",
        "pulse-high": "Fast pulse",
        "pulse-low": "Slow pulse",
        "pulse-urgent-high": "Very fast pulse",
        "pulse-urgent-low": "Very slow pulse",
        "temperature-high": "Fever",
        "temperature-low": "Low body temperature",
        "respiration-high": "Fast breathing",
        "respiration-very-high": "Very fast breathing",
        "respiration-low": "Slow breathing",
        "weight-gain": "Weight gain",
        "gateway-offline": "Gateway not reporting",
        "call-me": "Asked to be called",
    },
}
_KINDS = {
    "ja": {
        Kind.SYSTOLIC: "血圧",
        Kind.DIASTOLIC: "拡張期血圧",
        Kind.PULSE: "脈拍",
        Kind.SPO2: "SpO2",
        Kind.TEMPERATURE: "体温",
        Kind.RESPIRATION: "呼吸数",
        Kind.WEIGHT: "体重",
    },
    "en": {
        Kind.SYSTOLIC: "blood pressure",
        Kind.DIASTOLIC: "diastolic pressure",
        Kind.PULSE: "pulse",
        Kind.SPO2: "SpO2",
        Kind.TEMPERATURE: "temperature",
        Kind.RESPIRATION: "respiration",
        Kind.WEIGHT: "weight",
    },
}
_NO_READING = {"ja": "{kind}の測定がありません", "en": "No {kind} reading"}
_CHANGES = {
    "ja": {
        ChangeKind.OPENED: "",
        ChangeKind.UPDATED: "続いています",
        ChangeKind.ACKNOWLEDGED: "確認済み",
        ChangeKind.ESCALATED: "未確認のため転送",
        ChangeKind.RESOLVED: "解消",
    },
    "en": {
        ChangeKind.OPENED: "",
        ChangeKind.UPDATED: "continues",
        ChangeKind.ACKNOWLEDGED: "acknowledged",
        ChangeKind.ESCALATED: "not acknowledged: passed on to you",
        ChangeKind.RESOLVED: "resolved",
    },
}
_LINES = {
    "ja": {
        "last": "最新: {values}",
        "worst": "最悪: {values}",
        "count": "該当する測定: {n}件",
        "since": "最後の測定: {when}",
        "at": "{when}",
        "gain": "{days}日間で +{value} kg",
        "pressed": "呼び出しボタン: {when}",
        "presses": "押された回数: {n}回",
    },
    "en": {
        "last": "Last: {values}",
        "worst": "Worst: {values}",
        "count": "Readings beyond the limit: {n}",
        "since": "Last reading: {when}",
        "at": "{when}",
        "gain": "+{value} kg in {days} days",
        "pressed": "Call button pressed: {when}",
        "presses": "Times pressed: {n}",
    },
}
_UNITS = {"mm[Hg]": "mmHg", "/min": "/min", "%": "%", "Cel": "°C", "kg": "kg"}


def _language(language: str) -> str:
    return language if language in LANGUAGES else "en"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _values(values: dict[Kind, float], language: str) -> str:
    """'186/98 mmHg' for blood pressure, 'SpO2 88 %' for one value."""
    kinds = _KINDS[language]
    if Kind.SYSTOLIC in values and Kind.DIASTOLIC in values:
        pair = f"{_number(values[Kind.SYSTOLIC])}/{_number(values[Kind.DIASTOLIC])}"
        return f"{kinds[Kind.SYSTOLIC]} {pair} mmHg"
    return ", ".join(
        f"{kinds[k]} {_number(v)} {_UNITS.get(UNITS[k], UNITS[k])}" for k, v in values.items()
    )


def when_text(moment: datetime, zone: tzinfo, language: str) -> str:
    """2026年11月30日(月) 08:05 / Mon 30 Nov 2026 08:05, in `zone` (the patient's)."""
    language = _language(language)
    local = moment.astimezone(zone)
    return f"{format_date(local.date(), _DATE[language], locale=language)} {local:%H:%M}"


def condition_text(condition: str, language: str) -> str:
    """What the alert is about, in a few words."""
    language = _language(language)
    if condition.startswith("no-reading-"):
        kind = Kind(condition.removeprefix("no-reading-"))
        return _NO_READING[language].format(kind=_KINDS[language][kind])
    return _CONDITIONS[language].get(condition, condition)


def item_payload(
    item: Item,
    *,
    language: str,
    zone: tzinfo = UTC,
    patient_name: str | None = None,
    base_url: str = "",
) -> dict[str, Any]:
    """One part of a message as the outbox keeps it (what `delivery.render` reads).

    `severity` is always there (the anonymous rendering counts by it); `title`, `body`
    and `link` carry what identifies the patient.
    """
    language = _language(language)
    lines = _LINES[language]
    # A resolution wakes no one: it is labelled as such, not with the alert's severity.
    resolved = item.change is ChangeKind.RESOLVED
    level = Severity.INFO if resolved else item.severity
    change = _CHANGES[language][item.change]
    severity = change.capitalize() if resolved else _SEVERITY[language][level]
    what = condition_text(item.condition, language)
    change = "" if resolved else change
    who = patient_name or (f"Patient/{item.patient}" if item.patient else item.gateway or "")
    brackets = f"【{severity}】" if language == "ja" else f"[{severity}] "
    title = f"{brackets}{what}" + (f" ({change})" if change else "") + (f" — {who}" if who else "")
    body = []
    if item.last:
        if item.condition == "weight-gain":
            gain = item.last.get(Kind.WEIGHT, 0.0)
            body.append(lines["gain"].format(value=_number(gain), days=3))
        else:
            body.append(lines["last"].format(values=_values(item.last, language)))
            if item.worst and item.worst != item.last:
                body.append(lines["worst"].format(values=_values(item.worst, language)))
        if item.count > 1:
            body.append(lines["count"].format(n=item.count))
    if item.condition == CALL_ME_CONDITION:  # a press, not a reading: no values
        if item.last_at is not None:
            body.append(lines["pressed"].format(when=when_text(item.last_at, zone, language)))
        if item.count > 1:
            body.append(lines["presses"].format(n=item.count))
    elif item.last_at is not None:
        key = "at" if item.last else "since"
        body.append(lines[key].format(when=when_text(item.last_at, zone, language)))
    link = f"{base_url.rstrip('/')}{item.link}"
    return {
        "title": title,
        "body": "\n".join(body),
        "link": link,
        "severity": level.value,
        "alert": item.alert,
        "change": item.change.value,
        "condition": item.condition,
    }
