"""RACP request encoders (the bytes the gateway writes to 0x2A52)."""

import pytest

from device_adapters import racp


def test_request_encodings():
    assert racp.report_all_records() == bytes.fromhex("0101")
    assert racp.report_records_after(0x0102) == bytes.fromhex("0103010301")
    assert racp.report_number_of_records() == bytes.fromhex("0401")
    assert racp.report_number_of_records(after=9) == bytes.fromhex("0403010a00")
    assert racp.delete_all_records() == bytes.fromhex("0201")
    assert racp.delete_records_up_to(0x0203) == bytes.fromhex("0202010302")
    assert racp.abort_operation() == bytes.fromhex("0300")


@pytest.mark.parametrize("bad", [-1, 0x10000])
def test_sequence_numbers_must_be_uint16(bad):
    with pytest.raises(ValueError, match="uint16"):
        racp.report_records_after(bad)
    with pytest.raises(ValueError, match="uint16"):
        racp.delete_records_up_to(bad)


def test_nothing_follows_the_last_sequence_number():
    with pytest.raises(ValueError, match="65535"):
        racp.report_records_after(0xFFFF)
    with pytest.raises(ValueError, match="65535"):
        racp.report_number_of_records(after=0xFFFF)
