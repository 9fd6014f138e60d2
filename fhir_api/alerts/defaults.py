"""The clinic-wide default rules, each with its source (pure data).

EVERY VALUE HERE IS A DEFAULT THAT A CLINICIAN MUST CONFIRM for the clinic and may
change per patient (`rules.Overrides`). They are starting points taken from published
guidance for home monitoring, not orders for any one patient.

Sources:
- [JSH2019] Umemura S, et al. The Japanese Society of Hypertension Guidelines for the
  Management of Hypertension (JSH 2019). Hypertens Res 2019;42:1235-1481. Home blood
  pressure: hypertension at a mean of >= 135/85 mmHg; two readings per occasion,
  averaged (chapter 2). Grade III hypertension >= 180/110 mmHg; at that level with
  symptoms a hypertensive emergency must be ruled out the same day (chapter 13).
- [NEWS2] Royal College of Physicians. National Early Warning Score (NEWS) 2, 2017.
  Scores per parameter: SpO2 scale 1 (<=91: 3, 92-93: 2, 94-95: 1); SpO2 scale 2 for
  a prescribed target of 88-92 % (<=83: 3, 84-85: 2, 86-87: 1; 88-92 and >= 93 on air:
  0); pulse (<=40: 3, 41-50: 1, 91-110: 1, 111-130: 2, >=131: 3); respiration (<=8: 3,
  9-11: 1, 21-24: 2, >=25: 3); temperature (<=35.0: 3, 35.1-36.0: 1, 38.1-39.0: 1,
  >=39.1: 2). A single parameter scoring 3 asks for an urgent review; here it is the
  urgent level, a score of 2 (1 for a low pulse) the warning level; respiration, taken
  by the bed sensor asleep, raises warnings only.
- [ESC-HF] McDonagh TA, et al. 2021 ESC Guidelines for heart failure, Eur Heart J
  2021;42:3599-3726, section on self-care, and the ESC/HFA patient site
  heartfailurematters.org: a sudden, unexpected weight gain of more than 2 kg in 3
  days should be reported (HFSA patient education gives the same figure).
- No reading for 3 days (blood pressure) is issue 13's default; a gateway silent for
  6.5 h is the heartbeat's 6 h keep-alive plus a margin (`gateway/heartbeat.py`, the
  patient list's `GATEWAY_SILENT_MS`).
"""

from __future__ import annotations

from datetime import timedelta

from .model import Direction, Kind, Rule, Sampling, Severity

__all__ = [
    "BP_HIGH",
    "BP_URGENT",
    "ESCALATE_AFTER",
    "ESCALATION_LEVELS",
    "GATEWAY_GRACE",
    "GATEWAY_OFFLINE",
    "NO_READING",
    "OCCASION_WINDOW",
    "RULES",
    "SPO2_SCALE_1",
    "SPO2_SCALE_2",
]

_SYS, _DIA = Kind.SYSTOLIC, Kind.DIASTOLIC
_ABOVE, _BELOW = Direction.ABOVE, Direction.BELOW

# [JSH2019] home hypertension: occasion means at or above 135/85 on 3 days within a
# week (one high morning is not a diagnosis); resolves below 130/80 or after 3 normal
# occasions.
BP_HIGH = Rule(
    "bp-high",
    (_SYS, _DIA),
    _ABOVE,
    {_SYS: 135.0, _DIA: 85.0},
    {_SYS: 5.0, _DIA: 5.0},
    sampling=Sampling.OCCASION,
    days=3,
    window_days=7,
)
# [JSH2019] grade III, same-day: one reading is enough; resolves below 160/100.
BP_URGENT = Rule(
    "bp-urgent",
    (_SYS, _DIA),
    _ABOVE,
    {_SYS: 180.0, _DIA: 110.0},
    {_SYS: 20.0, _DIA: 10.0},
    Severity.URGENT,
    resolve_after=2,
)
# [NEWS2] scale 1: 92-93 % scores 2 (two readings in a row), <= 91 % scores 3 (at once).
SPO2_SCALE_1 = (
    Rule("spo2-low", (Kind.SPO2,), _BELOW, {Kind.SPO2: 93.0}, {Kind.SPO2: 1.0}, consecutive=2),
    Rule(
        "spo2-urgent",
        (Kind.SPO2,),
        _BELOW,
        {Kind.SPO2: 91.0},
        {Kind.SPO2: 1.0},
        Severity.URGENT,
        resolve_after=2,
    ),
)
# [NEWS2] scale 2 (target 88-92 %, e.g. hypercapnic respiratory failure): 84-85 %
# scores 2, <= 83 % scores 3. The same condition names: one patient has one scale.
SPO2_SCALE_2 = (
    Rule("spo2-low", (Kind.SPO2,), _BELOW, {Kind.SPO2: 85.0}, {Kind.SPO2: 2.0}, consecutive=2),
    Rule(
        "spo2-urgent",
        (Kind.SPO2,),
        _BELOW,
        {Kind.SPO2: 83.0},
        {Kind.SPO2: 2.0},
        Severity.URGENT,
        resolve_after=2,
    ),
)
_P, _T, _R, _W = Kind.PULSE, Kind.TEMPERATURE, Kind.RESPIRATION, Kind.WEIGHT
RULES: tuple[Rule, ...] = (
    BP_HIGH,
    BP_URGENT,
    *SPO2_SCALE_1,
    # [NEWS2] pulse: >= 111 scores 2 and <= 50 scores 1 (two in a row: a cuff's pulse is
    # noisy); >= 131 or <= 40 score 3 (at once).
    Rule("pulse-high", (_P,), _ABOVE, {_P: 111.0}, {_P: 11.0}, consecutive=2),
    Rule("pulse-low", (_P,), _BELOW, {_P: 50.0}, {_P: 5.0}, consecutive=2),
    Rule("pulse-urgent-high", (_P,), _ABOVE, {_P: 131.0}, {_P: 10.0}, Severity.URGENT),
    Rule("pulse-urgent-low", (_P,), _BELOW, {_P: 40.0}, {_P: 5.0}, Severity.URGENT),
    # [NEWS2] temperature: >= 38.1 scores 1 but a fever at home is worth a call; <= 35.0
    # scores 3, yet a low home reading is mostly a misplaced probe: two in a row.
    Rule("temperature-high", (_T,), _ABOVE, {_T: 38.1}, {_T: 0.6}),
    Rule("temperature-low", (_T,), _BELOW, {_T: 35.0}, {_T: 0.5}, consecutive=2),
    # [NEWS2] respiration: 21-24 scores 2, >= 25 and <= 8 score 3. Ours comes from the
    # bed sensor's sleep epochs (every few minutes, asleep, not a nurse's count at rest):
    # warnings on three epochs in a row, so one restless epoch wakes no one; urgent
    # levels fire at once, so none is set here.
    Rule("respiration-high", (_R,), _ABOVE, {_R: 21.0}, {_R: 1.0}, consecutive=3),
    Rule("respiration-very-high", (_R,), _ABOVE, {_R: 25.0}, {_R: 2.0}, consecutive=3),
    Rule("respiration-low", (_R,), _BELOW, {_R: 8.0}, {_R: 2.0}, consecutive=3),
    # [ESC-HF] a gain of 2 kg or more over the lowest weight of the previous 3 days;
    # resolves once the gain is under 1 kg.
    Rule(
        "weight-gain",
        (_W,),
        _ABOVE,
        {_W: 2.0},
        {_W: 1.0},
        sampling=Sampling.GAIN,
        gain_days=3,
        resolve_after=2,
    ),
)

# Issue 13: no blood pressure for 3 days is worth asking about. Other kinds: none by
# default (a clinician turns them on per patient).
NO_READING: dict[Kind, timedelta] = {Kind.SYSTOLIC: timedelta(days=3)}
GATEWAY_OFFLINE = timedelta(hours=6.5)
# An urgent alert nobody acknowledged in 15 minutes goes to the next in the chain
# (a clinic policy to confirm; no guideline sets it).
ESCALATE_AFTER = timedelta(minutes=15)
# Escalations of one urgent alert: care manager -> nurse -> doctor is two.
ESCALATION_LEVELS = 2
# A gateway back online first uploads what it held: its patients' no-reading alerts
# wait this long after it returns.
GATEWAY_GRACE = timedelta(hours=2)
# Readings of one sitting: JSH asks for two readings 1-2 minutes apart; 10 minutes
# after a sitting's first reading, a new one starts.
OCCASION_WINDOW = timedelta(minutes=10)
