"""Series in InfluxDB through its v1 HTTP API: `/write` (line protocol) and InfluxQL `/query`.

InfluxDB 1.x serves these natively, 2.x through DBRP mappings, 3.x as its
compatibility API, so this one backend reaches all three. Line protocol is
built with `influxdb-client`'s `Point`; values are always floats (InfluxDB
refuses a field whose type changes). Tested against Debian's InfluxDB 1.6.7;
2.x and 3.x are documented-compatible, untested here.

Authentication: `Authorization: Token …` when a token is set (2.x, 3.x), else
HTTP Basic with the user name and password (1.x with `auth-enabled`).

Layout: measurement `vital`, tags `subject` and `code`, fields `value` (float),
`unit` and `observation_id` (strings). Two readings of one code for one subject
at the same millisecond would share a point; the resource store keeps both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import httpx
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision
from sqlalchemy import Connection

from .base import DAY_MS, DailyRow, SeriesPoint
from .units import MAX_MAGNITUDE

__all__ = ["InfluxSeriesStore", "SeriesWriteError"]

MEASUREMENT = "vital"
_BATCH = 5000


class SeriesWriteError(RuntimeError):
    """InfluxDB did not accept a write or a query."""


def _quote(text: str) -> str:
    # InfluxQL string literal.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxSeriesStore:
    """`SeriesStore` on an InfluxDB database (v1 API)."""

    in_resource_transaction = False

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        # Credentials travel in the Authorization header, never in the query string:
        # URLs are logged (httpx logs each request at INFO, proxies log them too), and
        # `u=` / `p=` parameters put the InfluxDB password in the server's log (issue 10).
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = httpx.BasicAuth(username, password) if username and password and not token else None
        self._params: dict[str, str] = {"db": database}
        if retention_policy:
            self._params["rp"] = retention_policy
        self._client = httpx.Client(
            base_url=url, headers=headers, auth=auth, transport=transport, timeout=timeout
        )
        self.database = database

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def create_database(self) -> None:
        """`CREATE DATABASE` (1.x only: 2.x buckets and 3.x databases are made by their tools)."""
        self._query(f'CREATE DATABASE "{self.database}"', method="POST")

    @staticmethod
    def line(point: SeriesPoint) -> str:
        """The line protocol of one point."""
        return str(
            Point(MEASUREMENT)
            .tag("subject", point.subject)
            .tag("code", point.code)
            .field("value", float(point.value))
            .field("unit", point.unit)
            .field("observation_id", point.observation_id)
            .time(point.ts_ms, WritePrecision.MS)
            .to_line_protocol()
        )

    def write(self, connection: Connection | None, points: Sequence[SeriesPoint]) -> None:
        """POST the points to `/write` in batches.

        Raises:
            SeriesWriteError: when InfluxDB refuses or cannot be reached.
        """
        del connection  # InfluxDB is outside the resource transaction
        for start in range(0, len(points), _BATCH):
            body = "\n".join(self.line(p) for p in points[start : start + _BATCH])
            try:
                response = self._client.post(
                    "/write", params={**self._params, "precision": "ms"}, content=body
                )
            except httpx.HTTPError as exc:
                raise SeriesWriteError(f"InfluxDB write failed: {exc}") from exc
            if response.status_code != 204:
                raise SeriesWriteError(
                    f"InfluxDB write answered {response.status_code}: {response.text[:300]}"
                )

    def delete_observation(self, connection: Connection | None, observation_id: str) -> None:
        """Delete the points of one Observation (found by its observation_id field)."""
        del connection
        rows = self._query(
            f"SELECT value, subject, code FROM {MEASUREMENT} "  # noqa: S608 - InfluxQL, quoted
            f"WHERE observation_id = {_quote(observation_id)}"
        )
        for series in rows:
            for values in series.get("values", []):
                ts, _value, subject, code = values
                self._query(
                    f"DELETE FROM {MEASUREMENT} WHERE subject = {_quote(subject)} "  # noqa: S608
                    f"AND code = {_quote(code)} "
                    f"AND time = {int(ts)}ms",
                    method="POST",
                )

    def daily_rollup(
        self, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, zone: tzinfo
    ) -> list[DailyRow] | None:
        """None: InfluxDB aggregates its points itself (GROUP BY time(1d) with the offset)."""
        return None

    def daily(
        self, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, offset_ms: int
    ) -> list[DailyRow]:
        """InfluxQL `GROUP BY time(1d, offset), code` with min, max, sum and count."""
        if not codes:
            return []
        shift = (-offset_ms) % DAY_MS
        code_filter = " OR ".join(f"code = {_quote(code)}" for code in codes)
        statement = (
            "SELECT min(value), max(value), sum(value), count(value), last(unit) "  # noqa: S608
            f"FROM {MEASUREMENT} "
            f"WHERE subject = {_quote(subject)} AND ({code_filter}) "
            f"AND time >= {start_ms}ms AND time < {end_ms}ms "
            # Points written before issue 10 may hold any value; two of 1e308 sum to +Inf,
            # which InfluxDB then sends as invalid JSON.
            f"AND value >= {-MAX_MAGNITUDE:.1f} AND value <= {MAX_MAGNITUDE:.1f} "
            f"GROUP BY time(1d, {shift}ms), code fill(none)"
        )
        result = []
        for series in self._query(statement):
            code = series.get("tags", {}).get("code", "")
            for ts, minimum, maximum, total, count, unit in series.get("values", []):
                if count:
                    day = (int(ts) + offset_ms) // DAY_MS
                    result.append(
                        DailyRow(
                            code,
                            day,
                            float(minimum),
                            float(maximum),
                            float(total),
                            int(count),
                            unit or "",
                        )
                    )
        return result

    def clear(self) -> None:
        """Drop every point of the measurement."""
        self._query(f"DROP MEASUREMENT {MEASUREMENT}", method="POST")

    def _query(self, statement: str, *, method: str = "GET") -> list[dict[str, Any]]:
        params = {**self._params, "q": statement, "epoch": "ms"}
        try:
            if method == "GET":
                response = self._client.get("/query", params=params)
            else:
                response = self._client.post("/query", params=params)
        except httpx.HTTPError as exc:
            raise SeriesWriteError(f"InfluxDB query failed: {exc}") from exc
        if response.status_code != 200:
            raise SeriesWriteError(
                f"InfluxDB query answered {response.status_code}: {response.text[:300]}"
            )
        try:
            answer = response.json()
        except ValueError as exc:  # e.g. a +Inf aggregate, which JSON cannot carry
            raise SeriesWriteError(f"InfluxDB answered no JSON: {exc}") from exc
        series: list[dict[str, Any]] = []
        for statement_result in answer.get("results", []):
            if "error" in statement_result:
                if "measurement not found" in statement_result["error"]:
                    continue
                raise SeriesWriteError(f"InfluxDB: {statement_result['error']}")
            series.extend(statement_result.get("series", []))
        return series
