"""Payloads fed to the parsers, each with where it came from.

Sources:
- NORDIC: test vectors of NordicSemiconductor/Android-BLE-Common-Library
  (`ble-common/src/test/java/.../callback/<profile>/*DataCallbackTest.java`), built
  there byte by byte against the SIG specifications and checked by their asserts.
- SPEC: examples worked from the SIG specification text (the layouts in each module).
- SYNTHETIC: made up by hand for a case no public capture covers; marked as such.
No capture from a real device is included yet: the hardware suite (issue: gateway)
will add A&D and Omron captures with device, firmware and date.
"""

# --- Blood Pressure Measurement 0x2A35 ---
# NORDIC bps/BloodPressureMeasurementDataCallbackTest.onBloodPressureMeasurementReceived_full:
# 138/88 MAP 120 mmHg, time stamp with year 0 (unset) 04-17 20:41:59, pulse 60, user 1,
# status 0b100111.
BPM_NORDIC_FULL = bytes.fromhex("1e8a00580078000000041114293b3c00012700")
# NORDIC ..._some: kPa 18.9/11/15.9, pulse 60, status 0b010010 (cuff loose, pulse below range).
BPM_NORDIC_KPA = bytes.fromhex("15bdf00b009ff03c001200")
# NORDIC ..._minimal: flags 0, 18.9/11/15.9 mmHg.
BPM_NORDIC_MINIMAL = bytes.fromhex("00bdf00b009ff0")
# NORDIC onInvalidDataReceived_toShort: 6 bytes.
BPM_NORDIC_TOO_SHORT = bytes([1, 2, 3, 4, 5, 6])
# NORDIC onInvalidDataReceived_noTimestamp: flags declare a time stamp, 7 bytes only.
BPM_NORDIC_NO_TIMESTAMP = bytes([3, 2, 3, 4, 5, 6, 7])
# SYNTHETIC: what an A&D-style cuff sends: 122/80 MAP 96 mmHg, 2024-11-27 10:30:00,
# pulse 72, user 1, status 0.
BPM_TYPICAL = bytes.fromhex("1e7a0050006000e8070b1b0a1e004800010000")
# SYNTHETIC: systolic NaN (0x07FF), diastolic NRes (0x0800), MAP +INF (0x07FE).
BPM_SPECIAL_VALUES = bytes.fromhex("00ff070008fe07")
# SYNTHETIC: month 13 in the time stamp.
BPM_MONTH_13 = bytes.fromhex("027a0050006000e8070d01000000")

# --- Intermediate Cuff Pressure 0x2A36 ---
# SYNTHETIC: cuff at 95 mmHg, the two unused fields sent as 0x0000 as real stacks do.
ICP_TYPICAL = bytes.fromhex("005f0000000000")

# --- PLX Spot-check 0x2A5E ---
# SYNTHETIC: SpO2 97 %, PR 64, time stamp 2024-11-27 07:05:09, measurement status
# "from measurement storage" (bit 9), device/sensor status low perfusion (bit 5), PAI 2.5 %.
PLX_SPOT_FULL = bytes.fromhex("0f61004000e8070b1b070509000220000019f0")
# SYNTHETIC: SpO2 95, PR 70, time stamp present but "Device Clock is Not Set" (bit 4).
PLX_SPOT_CLOCK_NOT_SET = bytes.fromhex("115f004600d0070101000000")

# --- PLX Continuous 0x2A5F ---
# SYNTHETIC: SpO2 96, PR 66, fast 95/67, slow 96/65, PAI 3.1 %.
PLX_CONTINUOUS = bytes.fromhex("13600042005f004300600041001ff0")

# --- Temperature Measurement 0x2A1C ---
# NORDIC ht/TemperatureMeasurementDataCallbackTest: 37.60 Cel (FLOAT 0xFE000EB0),
# 2012-12-05 11:50:27, type finger.
TEMPERATURE_NORDIC = bytes.fromhex("06b00e00fedc070c050b321b04")
# NORDIC onInvalidDataReceived: the same without its declared type byte.
TEMPERATURE_NORDIC_TRUNCATED = bytes.fromhex("06b00e00fedc070c050b321b")

# --- Glucose Measurement 0x2A18 ---
# NORDIC glucose/GlucoseMeasurementDataCallbackTest: sequence 1, 2019-02-27 11:10:30 with a
# -5 min offset, 30 kg/L (SFLOAT 0x001E), capillary plasma from a finger, status 0x0105,
# context follows.
GLUCOSE_NORDIC = bytes.fromhex("1b0100e307021b0b0a1efbff1e00120501")
# NORDIC onInvalidDataReceived: time offset declared but missing.
GLUCOSE_NORDIC_TRUNCATED = bytes.fromhex("1b0000e207041a0b091e1e00120501")
# SPEC (ble reference 3.5): 105 mg/dL sent as 105e-5 kg/L = SFLOAT 0xB069.
GLUCOSE_105_MG_DL = bytes.fromhex("020700e8070b1b08000069b011")

# --- Heart Rate Measurement 0x2A37 ---
# SYNTHETIC: uint8 72 /min, contact detected, energy 523 kJ, RR 800/1024 s and 820/1024 s.
HEART_RATE_FULL = bytes.fromhex("1e480b0220033403")

# --- Weight Measurement 0x2A9D ---
# SYNTHETIC: 62.35 kg (12470 * 0.005), 2024-11-27 07:00:00, user 2, BMI 23.4, height 1.632 m.
WEIGHT_SI = bytes.fromhex("0eb630e8070b1b07000002ea006006")

# --- Current Time 0x2A2B ---
# SYNTHETIC (seen written by a bleak-on-bumble prototype): 2024-03-05 07:30:15, Tuesday,
# fractions 0, adjust reason manual.
CURRENT_TIME = bytes.fromhex("e8070305071e0f020001")

# --- RACP 0x2A52 ---
# SPEC (RACP flow): number of stored records = 3; report stored records succeeded.
RACP_COUNT_3 = bytes.fromhex("05000300")
RACP_SUCCESS = bytes.fromhex("06000101")
RACP_NO_RECORDS = bytes.fromhex("06000106")

# --- Sleep (open profile) ---
# SYNTHETIC: epoch 513, 2024-11-27 02:30:00, 300 s, deep sleep, HR 54, RR 13.5, movement 2.
SLEEP_EPOCH = bytes.fromhex("070102e8070b1b021e002c0103360087f00200")
# SYNTHETIC: in bed, light sleep, HR 58.
SLEEP_LIVE = bytes.fromhex("0101023a00")

# --- Emfit QS /dvmstatus.htm ---
# SYNTHETIC, in the format ha-emfitqs parses (key=value<br> lines).
EMFIT_IN_BED = (
    b"SER=004711<br>\r\npres=1<br>\r\nhr=58<br>\r\nrr=14<br>\r\nact=120<br>\r\nfw=120.2.2.1<br>\r\n"
)
EMFIT_EMPTY_BED = b"SER=004711<br>\r\npres=0<br>\r\nhr=0<br>\r\nrr=0<br>\r\nact=0<br>\r\n"
