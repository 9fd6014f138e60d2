"""`$stats` answers right or refuses clearly (issue 10), on every series backend."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from fhir_api.fhir import OperationOutcome
from fhir_api.storage.series.sync import flush_series_outbox

from .conftest import RunningServer
from .helpers import JSON, ensure_subjects, spo2

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
        }
    ]
}


def vital(subject: str, code: str, when: str, value: float, unit: str) -> dict[str, Any]:
    """A vital-signs Observation with one Quantity."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [VITAL_SIGNS],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def stats(client: httpx.Client, server: RunningServer, query: str) -> httpx.Response:
    """GET $stats once the series store has every point (InfluxDB is written after commit)."""
    if server.backend == "influxdb":
        flush_series_outbox(server.store)
    return client.get(f"/Observation/$stats?{query}")


def series(body: dict[str, Any]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """{code: (unit, [{date, min, max, mean, count} per day])} from a $stats answer."""
    found = {}
    for parameter in body["parameter"]:
        if parameter["name"] != "series":
            continue
        code = parameter["part"][0]["valueCoding"]["code"]
        unit = parameter["part"][1]["valueCode"]
        days = [
            {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in d["part"]}
            for d in parameter["part"][2:]
        ]
        found[code] = (unit, days)
    return found


def post(client: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    ensure_subjects(client, resource["subject"]["reference"])
    response = client.post(f"/{resource['resourceType']}", json=resource, headers=JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_stats_reports_one_unit_per_code_issue_10(client, server):
    """37 Cel and 98.6 [degF] on one day gave "Cel, mean 67.8"."""
    subject = "Patient/units-temperature"
    post(client, vital(subject, "8310-5", "2024-10-01T07:00:00+09:00", 37.0, "Cel"))
    fahrenheit = post(client, vital(subject, "8310-5", "2024-10-01T19:00:00+09:00", 98.6, "[degF]"))
    post(client, vital(subject, "29463-7", "2024-10-01T07:00:00+09:00", 60.0, "kg"))
    post(client, vital(subject, "29463-7", "2024-10-01T19:00:00+09:00", 143.3, "[lb_av]"))
    response = stats(
        client,
        server,
        f"patient={subject}&code=8310-5,29463-7&start=2024-10-01&end=2024-10-02&tz=Asia/Tokyo",
    )
    assert response.status_code == 200, response.text
    found = series(response.json())
    (unit, [day]) = found["8310-5"]
    assert unit == "Cel"
    assert (day["min"], day["max"], day["mean"], day["count"]) == (37.0, 37.0, 37.0, 2)
    (unit, [day]) = found["29463-7"]
    assert unit == "kg"
    assert (day["min"], day["max"], day["count"]) == (60.0, 65.0, 2)
    assert day["mean"] == pytest.approx(62.5, abs=0.001)
    # The Observation keeps the value and unit it arrived with.
    kept = client.get(f"/Observation/{fahrenheit['id']}").json()["valueQuantity"]
    assert (kept["value"], kept["code"]) == (98.6, "[degF]")


def test_stats_finds_a_code_on_any_coding_issue_10(client, server):
    """The oximeter's Observations carry 2708-6 and 59408-5; $stats for 59408-5 was empty."""
    subject = "Patient/oximeter-codes"
    for hour, value in ((7, 95), (12, 97), (19, 96)):
        post(client, spo2(subject, f"2024-10-02T{hour:02d}:00:00+09:00", value))
    window = f"patient={subject}&start=2024-10-02&end=2024-10-03&tz=Asia/Tokyo"
    searched = client.get(f"/Observation?subject={subject}&code=59408-5&_summary=count")
    assert searched.json()["total"] == 3
    for code in ("59408-5", "2708-6", f"{LOINC}|59408-5"):
        response = stats(client, server, f"{window}&code={code}")
        assert response.status_code == 200, response.text
        (unit, [day]) = series(response.json())[code.rsplit("|", 1)[-1]]
        assert (unit, day["min"], day["max"], day["mean"], day["count"]) == ("%", 95, 97, 96, 3)


@pytest.mark.parametrize(
    "code",
    [
        "150456",  # the MDC code of SpO2: on the Observation, but not a series
        "urn:iso:std:iso:11073:10101|150456",
        "http://snomed.info/sct|2708-6",  # a LOINC code under another system
        "8480-6,1234-5",  # one unknown code among known ones
        "|8480-6",  # a code without a system: the series hold LOINC codings only
    ],
)
def test_stats_refuses_a_code_it_never_aggregates_issue_10(client, server, code):
    response = stats(
        client,
        server,
        f"patient=Patient/oximeter-codes&code={code}&start=2024-10-02&end=2024-10-03",
    )
    assert response.status_code == 400, response.text
    body = response.json()
    OperationOutcome.model_validate(body)
    diagnostics = body["issue"][0]["diagnostics"]
    assert "has no series for" in diagnostics
    assert code.split(",")[-1] in diagnostics
    assert "8480-6" in diagnostics  # it says which codes it does aggregate


def test_stats_mean_stays_finite_issue_10(client, server):
    """Two readings of 1e308 on one day made the mean {"valueDecimal": null}."""
    subject = "Patient/huge-values"
    ensure_subjects(client, subject)
    for hour in (7, 8):  # refused at the door now; the series' own guard has unit tests
        huge = vital(subject, "29463-7", f"2024-10-03T{hour:02d}:00:00+09:00", 1e308, "kg")
        assert client.post("/Observation", json=huge, headers=JSON).status_code == 422
    post(client, vital(subject, "29463-7", "2024-10-03T09:00:00+09:00", 61.0, "kg"))
    response = stats(
        client,
        server,
        f"patient={subject}&code=29463-7&start=2024-10-03&end=2024-10-04&tz=Asia/Tokyo",
    )
    assert response.status_code == 200, response.text
    (_, [day]) = series(response.json())["29463-7"]
    for name in ("min", "max", "mean"):
        assert isinstance(day[name], float | int) and math.isfinite(day[name]), day
    assert (day["mean"], day["count"]) == (61.0, 1)  # values beyond 1e12 are not charted


# The earliest and latest times validation accepts (a day from the ends of the
# calendar in UTC; anything beyond is a 400 at the door, tested with validation).
EDGE_TIMES = [
    "0001-01-02T14:00:00+14:00",
    "0001-01-02T00:00:00-14:00",
    "0001-01-02",
    "9999-12-30T13:59:59.5+14:00",
    "9999-12-29T09:59:59.5-14:00",
    "9999-12-29",
]


def test_readings_at_the_edges_of_time_are_stored_issue_10(client, server):
    """A reading in year 0001 or 9999 made the whole transaction a 500 (rollups)."""
    subject = "Patient/edge-years"
    ensure_subjects(client, subject)
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{n}",
            "resource": vital(subject, "8867-4", when, 60 + n, "/min"),
            "request": {"method": "POST", "url": "Observation"},
        }
        for n, when in enumerate(EDGE_TIMES)
    ]
    entries.append(
        {
            "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000009",
            "resource": vital(subject, "8867-4", "2024-10-04T07:00:00+09:00", 70, "/min"),
            "request": {"method": "POST", "url": "Observation"},
        }
    )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 200, response.text
    stored = [e["response"]["location"] for e in response.json()["entry"]]
    assert all(client.get(location).status_code == 200 for location in stored)
    # Charted: the reading of 2024; the others are stored and searchable, not charted.
    everything = stats(client, server, f"patient={subject}&code=8867-4&start=0001&end=9999-12-31")
    assert everything.status_code == 200, everything.text
    (_, days) = series(everything.json())["8867-4"]
    assert [(d["date"], d["count"]) for d in days] == [("2024-10-04", 1)]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01", "0002-01-01"),
        ("0001", "0001-12-31"),
        ("9999-01-01", "9999-12-31"),
        ("9999-12-30", "9999-12-31T23:59:59+14:00"),
        ("2024-10-04", "9999-12-31T23:59:59-14:00"),
        ("2024-10-04", "9999"),
    ],
)
def test_stats_over_the_edges_of_time_answers_issue_10(client, server, start, end):
    """$stats over year 0001 or 9999 answered 500."""
    response = stats(
        client,
        server,
        f"patient=Patient/edge-years&code=8867-4&start={quote(start)}&end={quote(end)}"
        "&tz=Pacific/Kiritimati",
    )
    assert response.status_code == 200, response.text
    days = series(response.json()).get("8867-4", ("", []))[1]
    assert [d["date"] for d in days] == (["2024-10-04"] if start == "2024-10-04" else [])


@pytest.mark.parametrize("bad", ["9999-13-01", "99999", "2024-10-04T25:00:00Z"])
def test_stats_refuses_dates_that_are_not_dates(client, server, bad):
    response = stats(
        client, server, f"patient=Patient/edge-years&code=8867-4&start=2024-10-01&end={quote(bad)}"
    )
    assert response.status_code == 400, response.text
    assert "FHIR date" in response.json()["issue"][0]["diagnostics"]
