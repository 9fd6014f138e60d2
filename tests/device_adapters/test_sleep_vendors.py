"""Vendor adapters yield the same sleep readings as the open profile."""

import pytest

import device_adapters as da
from device_adapters.sleep_vendors import ADAPTERS, SleepVendorAdapter, get_adapter

from . import captures as c


def test_registered_adapters_satisfy_the_interface():
    assert ADAPTERS
    for adapter in ADAPTERS.values():
        assert isinstance(adapter, SleepVendorAdapter)


def test_emfit_qs_in_bed():
    adapter = get_adapter("emfit-qs")
    assert adapter.parse_live(c.EMFIT_IN_BED) == da.SleepLive(
        in_bed=True,
        stage=da.SleepStage.UNKNOWN,
        heart_rate=da.Quantity(58.0, da.Unit.PER_MIN),
        respiration_rate=da.Quantity(14.0, da.Unit.PER_MIN),
        movement=da.Quantity(120.0, da.Unit.COUNT),
    )
    assert adapter.parse_epochs(c.EMFIT_IN_BED) == ()


def test_emfit_qs_empty_bed_has_no_vitals():
    assert get_adapter("emfit-qs").parse_live(c.EMFIT_EMPTY_BED) == da.SleepLive(
        in_bed=False,
        stage=da.SleepStage.OUT_OF_BED,
        movement=da.Quantity(0.0, da.Unit.COUNT),
    )


@pytest.mark.parametrize(
    "payload",
    [b"hr=58<br>", b"pres=1<br>hr=fast<br>", b"pres=1<br>hr=-3<br>", b"pres=1\xff", b"pres=nan"],
)
def test_emfit_qs_bad_pages_are_malformed(payload):
    with pytest.raises(da.MalformedPayload):
        get_adapter("emfit-qs").parse_live(payload)
