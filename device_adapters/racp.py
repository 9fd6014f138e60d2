"""Record Access Control Point 0x2A52: decode the device's responses, encode our requests.

A RACP value is `op code uint8 | operator uint8 | operand`. Responses come as
indications: Number of Stored Records Response `05 00 <count uint16>` and Response
Code `06 00 <request op code> <response code>`. Filters on a sequence number use
filter type 0x01 followed by a uint16 (GLS 1.0 section 3.5, PLXS, our sleep profile).
The operator of a response is defined as Null; other values are tolerated.
"""

from __future__ import annotations

import struct

from ._fields import UINT16, need
from .errors import MalformedPayload
from .readings import RacpNumberOfRecords, RacpOpCode, RacpResponse, RacpResponseCode
from .uuids import RECORD_ACCESS_CONTROL_POINT
from .uuids import label as _label

__all__ = [
    "abort_operation",
    "delete_all_records",
    "delete_records_up_to",
    "parse_racp",
    "report_all_records",
    "report_number_of_records",
    "report_records_after",
]

_RACP = _label(RECORD_ACCESS_CONTROL_POINT)
_ALL = 0x01
_LESS_OR_EQUAL = 0x02
_GREATER_OR_EQUAL = 0x03
_FILTER_SEQUENCE_NUMBER = 0x01
_MAX_SEQUENCE = 0xFFFF
_OP_OPERATOR = struct.Struct("<BB")
_FILTERED = struct.Struct("<BBBH")  # op code, operator, filter type, sequence number
_OP_CODES = {int(op): op for op in RacpOpCode}
_RESPONSE_CODES = {int(code): code for code in RacpResponseCode}


def parse_racp(data: bytes) -> RacpNumberOfRecords | RacpResponse:
    """Decode a RACP indication from the device.

    Raises:
        MalformedPayload: for a short payload or an op code that is not a response.
    """
    need(data, 0, 2, _RACP, "op code and operator")
    op_code = data[0]
    if op_code == RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        need(data, 2, 2, _RACP, "number of records")
        return RacpNumberOfRecords(UINT16.unpack_from(data, 2)[0])
    if op_code == RacpOpCode.RESPONSE_CODE:
        need(data, 2, 2, _RACP, "request op code and response code")
        request, code = data[2], data[3]
        return RacpResponse(_OP_CODES.get(request, request), _RESPONSE_CODES.get(code, code))
    raise MalformedPayload(_RACP, 0, data, f"op code 0x{op_code:02X} is not a RACP response")


def _sequence(sequence_number: int) -> int:
    if not 0 <= sequence_number <= _MAX_SEQUENCE:
        raise ValueError(f"sequence number {sequence_number} is not a uint16")
    return sequence_number


def report_all_records() -> bytes:
    """`01 01`: report every stored record."""
    return _OP_OPERATOR.pack(RacpOpCode.REPORT_STORED_RECORDS, _ALL)


def report_records_after(sequence_number: int) -> bytes:
    """`01 03 01 <n+1>`: report the records after `sequence_number` (the last one stored).

    Raises:
        ValueError: when `sequence_number` is not a uint16, or is the last one possible.
    """
    if _sequence(sequence_number) == _MAX_SEQUENCE:
        raise ValueError("no sequence number follows 65535")
    return _FILTERED.pack(
        RacpOpCode.REPORT_STORED_RECORDS,
        _GREATER_OR_EQUAL,
        _FILTER_SEQUENCE_NUMBER,
        sequence_number + 1,
    )


def report_number_of_records(after: int | None = None) -> bytes:
    """`04 01`, or `04 03 01 <n+1>` to count only the records after `after`."""
    if after is None:
        return _OP_OPERATOR.pack(RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS, _ALL)
    if _sequence(after) == _MAX_SEQUENCE:
        raise ValueError("no sequence number follows 65535")
    return _FILTERED.pack(
        RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        _GREATER_OR_EQUAL,
        _FILTER_SEQUENCE_NUMBER,
        after + 1,
    )


def delete_all_records() -> bytes:
    """`02 01`: delete every stored record (only once all are stored upstream)."""
    return _OP_OPERATOR.pack(RacpOpCode.DELETE_STORED_RECORDS, _ALL)


def delete_records_up_to(sequence_number: int) -> bytes:
    """`02 02 01 <n>`: delete the records up to and including `sequence_number`."""
    return _FILTERED.pack(
        RacpOpCode.DELETE_STORED_RECORDS,
        _LESS_OR_EQUAL,
        _FILTER_SEQUENCE_NUMBER,
        _sequence(sequence_number),
    )


def abort_operation() -> bytes:
    """`03 00`: abort the running procedure."""
    return _OP_OPERATOR.pack(RacpOpCode.ABORT_OPERATION, 0x00)
