"""The clinic-wide default rules, each with its source (pure data).

EVERY VALUE HERE IS A DEFAULT THAT A CLINICIAN MUST CONFIRM for the clinic and may
change per patient. They are starting points taken from published guidance for home
monitoring, not orders for any one patient.

ONE SET OF NUMBERS: the limits of blood pressure, SpO2 and pulse are the patient's
vital-sign limits (`fhir_api/vital_limits.py`: the Patient's vital-limits extension,
which also flags readings on the patient list, the patient page and the printed
summary). A reading the page flags high is the reading the alert counts; the alert
adds only what is its own: confirmation (how many readings, on how many days),
recovery margins (hysteresis), the SpO2 and pulse urgent levels (beyond the limits),
and the rules for what the limits do not cover (temperature, respiration, weight,
no reading). `limit_rules(limits)` builds a patient's rules from their limits.

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
  >=39.1: 2). A single parameter scoring 3 asks for an urgent review. Here it is the
  urgent level of pulse (<= 40, >= 131), and of SpO2 on scale 2 (<= 83: 4 points below
  the scale's low limit of 88, the level kept for scale 1 too: below 86 %); a score of
  2 the warning level of temperature and respiration; respiration, taken by the bed
  sensor asleep, raises warnings only. SpO2 and pulse warnings are the patient's flags
  (below 90 %, below 50 or above 100 /min), not NEWS2 scores.
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

from fhir_api.vital_limits import DEFAULT as DEFAULT_LIMITS
from fhir_api.vital_limits import SPO2_LOW_TARGET_88_92, Limits, Spo2Scale

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
    "OWN_RULES",
    "PULSE_URGENT_HIGH",
    "PULSE_URGENT_LOW",
    "RULES",
    "SPO2_SCALE_1",
    "SPO2_SCALE_2",
    "SPO2_URGENT_BELOW_LOW",
    "limit_rules",
]

_SYS, _DIA = Kind.SYSTOLIC, Kind.DIASTOLIC
_ABOVE, _BELOW = Direction.ABOVE, Direction.BELOW
_P, _T, _R, _W = Kind.PULSE, Kind.TEMPERATURE, Kind.RESPIRATION, Kind.WEIGHT

# [NEWS2] SpO2 urgent: scale 2 scores 3 at <= 83 %, 4 points below its low limit (88):
# urgent below `spo2_low - 4` on either scale (scale 1: below 86 %).
SPO2_URGENT_BELOW_LOW = 4.0
# [NEWS2] pulse scores 3 at >= 131 and <= 40 /min; a patient's own pulse limits beyond
# these move the urgent level with them (urgent is never inside the warning band).
PULSE_URGENT_HIGH = 131.0
PULSE_URGENT_LOW = 40.0


def _blood_pressure(limits: Limits) -> tuple[Rule, Rule]:
    # [JSH2019] home hypertension: occasion means at or above the patient's high limits
    # (135/85) on 3 days within a week (one high morning is not a diagnosis); resolves
    # 5 mmHg below them (130/80) or after 3 normal occasions.
    high = Rule(
        "bp-high",
        (_SYS, _DIA),
        _ABOVE,
        {_SYS: limits.systolic, _DIA: limits.diastolic},
        {_SYS: 5.0, _DIA: 5.0},
        sampling=Sampling.OCCASION,
        days=3,
        window_days=7,
    )
    # [JSH2019] grade III, same-day: one reading at or above the urgent limits (180/110)
    # is enough; resolves 20/10 mmHg below them (160/100).
    urgent = Rule(
        "bp-urgent",
        (_SYS, _DIA),
        _ABOVE,
        {_SYS: limits.systolic_urgent, _DIA: limits.diastolic_urgent},
        {_SYS: 20.0, _DIA: 10.0},
        Severity.URGENT,
        resolve_after=2,
    )
    return high, urgent


def _spo2(limits: Limits) -> tuple[Rule, Rule]:
    # Below the patient's low limit (90 %; 88 % on scale 2), two readings in a row;
    # urgent 4 points lower at once. Scale 2 recovers with a wider margin (its band is
    # lower and a probe's error the same).
    margin = 2.0 if limits.spo2_scale is Spo2Scale.TARGET_88_92 else 1.0
    low = Rule(
        "spo2-low",
        (Kind.SPO2,),
        _BELOW,
        {Kind.SPO2: limits.spo2_low},
        {Kind.SPO2: margin},
        consecutive=2,
        strict=True,
    )
    urgent = Rule(
        "spo2-urgent",
        (Kind.SPO2,),
        _BELOW,
        {Kind.SPO2: limits.spo2_low - SPO2_URGENT_BELOW_LOW},
        {Kind.SPO2: margin},
        Severity.URGENT,
        resolve_after=2,
        strict=True,
    )
    return low, urgent


def _pulse(limits: Limits) -> tuple[Rule, ...]:
    # Above / below the patient's limits (100 / 50), two readings in a row (a cuff's
    # pulse is noisy); [NEWS2] urgent levels at once.
    return (
        Rule(
            "pulse-high",
            (_P,),
            _ABOVE,
            {_P: limits.pulse_high},
            {_P: 10.0},
            consecutive=2,
            strict=True,
        ),
        Rule(
            "pulse-low",
            (_P,),
            _BELOW,
            {_P: limits.pulse_low},
            {_P: 5.0},
            consecutive=2,
            strict=True,
        ),
        Rule(
            "pulse-urgent-high",
            (_P,),
            _ABOVE,
            {_P: max(PULSE_URGENT_HIGH, limits.pulse_high + 1)},
            {_P: 10.0},
            Severity.URGENT,
        ),
        Rule(
            "pulse-urgent-low",
            (_P,),
            _BELOW,
            {_P: min(PULSE_URGENT_LOW, limits.pulse_low - 1)},
            {_P: 5.0},
            Severity.URGENT,
        ),
    )


# The rules that are the alerts' own: what the vital-sign limits do not cover.
OWN_RULES: tuple[Rule, ...] = (
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


def limit_rules(limits: Limits) -> tuple[Rule, ...]:
    """The threshold rules of a patient with these vital-sign limits (pure)."""
    return (*_blood_pressure(limits), *_spo2(limits), *_pulse(limits), *OWN_RULES)


BP_HIGH, BP_URGENT = _blood_pressure(DEFAULT_LIMITS)
SPO2_SCALE_1 = _spo2(DEFAULT_LIMITS)
SPO2_SCALE_2 = _spo2(Limits(spo2_low=SPO2_LOW_TARGET_88_92, spo2_scale=Spo2Scale.TARGET_88_92))
RULES: tuple[Rule, ...] = limit_rules(DEFAULT_LIMITS)

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
