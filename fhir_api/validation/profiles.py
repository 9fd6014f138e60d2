"""Profile rules: FHIR R4 vital signs and the HL7 PHD IG base observation.

They apply when `meta.profile` claims the profile, and for vital signs also
when the code is a vital-sign LOINC code (FHIR R4 observation-vitalsigns: such
Observations SHALL conform). Violations are answered with 422.

Known profiles (`KNOWN_PROFILES`): the R4 vital-signs family, JP Core's
JP_Observation_VitalSigns (checked as R4 vital signs, which it derives from), and
the PHD IG's Observation and Device profiles (PhdDevice/PhgDevice: only that the
resource is a Device). A resource claiming a known profile of another resource
type, or a vital-signs profile whose LOINC code it does not carry, is 422. A
profile the server does not know is accepted with a warning (`profile_warnings`).
Every Observation value in a UCUM unit of `POSSIBLE` must be a possible measurement.

Deviations, on purpose: an Observation with the PHD category may have a Device
as subject (the PHD IG's unassigned readings; vital signs would want a
Patient), and PHD rules accept both the STU 2 category `phd` and the earlier
`phd-observation`, and both gateway extensions (`observation-gatewayDevice`,
R5-style `device-gateway`), as the IG's own examples use each.
"""

from __future__ import annotations

from typing import Any

from ..codes import LOINC, codings
from ..dates import parse_date_range
from ..fhir import GATEWAY_EXTENSIONS
from ..sampled_data import samples

__all__ = ["KNOWN_PROFILES", "check_profiles", "profile_warnings"]

Issue = tuple[str, str]
UCUM = "http://unitsofmeasure.org"
VS = "http://hl7.org/fhir/StructureDefinition/"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
PHD_PROFILE = "http://hl7.org/fhir/uv/phd/StructureDefinition/Phd"
PHD_CTS_PROFILE = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"

# LOINC code -> (profile name, allowed UCUM units; None when the value is in components)
VITAL_SIGNS: dict[str, tuple[str, frozenset[str] | None]] = {
    "85354-9": ("bp", None),
    "85353-1": ("vitalspanel", None),
    "8867-4": ("heartrate", frozenset({"/min"})),
    "2708-6": ("oxygensat", frozenset({"%"})),
    "9279-1": ("resprate", frozenset({"/min"})),
    "8310-5": ("bodytemp", frozenset({"Cel", "[degF]"})),
    "29463-7": ("bodyweight", frozenset({"kg", "g", "[lb_av]"})),
    "8302-2": ("bodyheight", frozenset({"cm", "[in_i]"})),
    "9843-4": ("headcircum", frozenset({"cm", "[in_i]"})),
    "39156-5": ("bmi", frozenset({"kg/m2"})),
}
_BY_PROFILE = {VS + name: code for code, (name, _) in VITAL_SIGNS.items()}
JP_VITAL_SIGNS = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns"
PHD_PREFIX = "http://hl7.org/fhir/uv/phd/StructureDefinition/"
# Canonical URL -> the resource type it profiles (PHD's are matched by prefix below).
KNOWN_PROFILES: dict[str, str] = {
    **{url: "Observation" for url in _BY_PROFILE},
    VS + "vitalsigns": "Observation",
    JP_VITAL_SIGNS: "Observation",
    PHD_PREFIX + "PhdDevice": "Device",
    PHD_PREFIX + "PhgDevice": "Device",
}
_BP_COMPONENTS = {"8480-6": "systolic", "8462-4": "diastolic"}

# UCUM unit -> values no measurement of a person can have outside of (inclusive bounds).
# Far wider than clinical ranges (device_adapters.units.PLAUSIBLE_RANGES): an alarming
# value is stored and shown; only nonsense like 1e308 mm[Hg], which would overflow every
# sum over a day, or a negative weight is refused (issue 10).
POSSIBLE: dict[str, tuple[float, float]] = {
    "mm[Hg]": (0.0, 500.0),
    "kPa": (0.0, 70.0),
    "/min": (0.0, 600.0),
    "%": (0.0, 100.0),
    "Cel": (0.0, 60.0),
    "[degF]": (32.0, 140.0),
    "kg": (0.0, 1_000.0),
    "g": (0.0, 1_000_000.0),
    "[lb_av]": (0.0, 2_200.0),
    "cm": (0.0, 300.0),
    "m": (0.0, 3.0),
    "[in_i]": (0.0, 120.0),
    "kg/m2": (0.0, 300.0),
    "mg/dL": (0.0, 10_000.0),
    "mmol/L": (0.0, 600.0),
}


def _loinc_codes(concept: Any) -> list[str]:
    return [code for system, code in codings(concept) if system == LOINC]


def _categories(resource: dict[str, Any]) -> set[tuple[str, str]]:
    return {coding for category in resource.get("category", ()) for coding in codings(category)}


def _quantity(
    element: dict[str, Any], units: frozenset[str] | None, where: str, issues: list[Issue]
) -> None:
    quantity = element.get("valueQuantity")
    if quantity is None:
        if (
            "dataAbsentReason" not in element
            and units is not None
            and "value" not in "".join(element)
        ):
            issues.append(("vs-2: a vital sign needs valueQuantity or dataAbsentReason", where))
        return
    if quantity.get("system") != UCUM:
        issues.append(
            (
                "valueQuantity.system must be http://unitsofmeasure.org (UCUM)",
                f"{where}.valueQuantity.system",
            )
        )
    code = quantity.get("code")
    if code is None:
        issues.append(
            ("valueQuantity.code (a UCUM unit) is required", f"{where}.valueQuantity.code")
        )
    elif units is not None and code not in units:
        issues.append(
            (
                f"unit {code!r} is not allowed here; use one of {sorted(units)}",
                f"{where}.valueQuantity.code",
            )
        )
    if quantity.get("value") is None:
        issues.append(("valueQuantity.value is required", f"{where}.valueQuantity.value"))


def _claimed(resource: dict[str, Any]) -> list[str]:
    """The canonical URLs of `meta.profile`, without a `|version`."""
    meta = resource.get("meta")
    claims = meta.get("profile", ()) if isinstance(meta, dict) else ()
    return [p.split("|", 1)[0] for p in claims if isinstance(p, str)]


def _profiled_type(url: str) -> str | None:
    known = KNOWN_PROFILES.get(url)
    if known is None and url.startswith(PHD_PREFIX):
        return "Observation"  # every other PHD IG profile is one of its Observations
    return known


def profile_warnings(resource: dict[str, Any], path: str) -> list[Issue]:
    """A warning per claimed profile this server does not know (and so cannot check)."""
    return [
        (
            f"profile {url} is not known to this server: checked against the base resource only",
            f"{path}.meta.profile[{index}]",
        )
        for index, url in enumerate(_claimed(resource))
        if _profiled_type(url) is None
    ]


def _possible(resource: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """Each value of a known UCUM unit within what a person can measure (`POSSIBLE`)."""
    components = resource.get("component", ())
    for index, element in enumerate([resource, *components]):
        if isinstance(element, dict) and isinstance(element.get("valueSampledData"), dict):
            where = path if index == 0 else f"{path}.component[{index - 1}]"
            _possible_samples(element["valueSampledData"], f"{where}.valueSampledData", issues)
        quantity = element.get("valueQuantity") if isinstance(element, dict) else None
        if not isinstance(quantity, dict) or quantity.get("system") != UCUM:
            continue
        bounds = POSSIBLE.get(str(quantity.get("code")))
        value = quantity.get("value")
        if bounds is None or not isinstance(value, (int, float)):
            continue
        if not bounds[0] <= value <= bounds[1]:
            where = path if index == 0 else f"{path}.component[{index - 1}]"
            issues.append(
                (
                    f"{value} {quantity['code']} is not a possible measurement "
                    f"(from {bounds[0]:g} to {bounds[1]:g})",
                    f"{where}.valueQuantity.value",
                )
            )


def _possible_samples(sampled: dict[str, Any], where: str, issues: list[Issue]) -> None:
    """Each sample of a SampledData within what a person can measure, as a Quantity is."""
    origin = sampled.get("origin")
    read = samples(sampled)
    if read is None or not isinstance(origin, dict) or origin.get("system") != UCUM:
        return
    bounds = POSSIBLE.get(str(origin.get("code")))
    if bounds is None:
        return
    for number, value in enumerate(read[1], start=1):
        if value is not None and not bounds[0] <= value <= bounds[1]:
            issues.append(
                (
                    f"sample {number}, {value:g} {origin['code']}, is not a possible "
                    f"measurement (from {bounds[0]:g} to {bounds[1]:g})",
                    f"{where}.data",
                )
            )
            return


def check_profiles(resource: dict[str, Any], path: str) -> list[Issue]:
    """Profile problems of a resource (Observations have rules; others only the type)."""
    claimed = _claimed(resource)
    kind = resource.get("resourceType")
    issues: list[Issue] = []
    for index, url in enumerate(claimed):
        profiled = _profiled_type(url)
        if profiled is not None and profiled != kind:
            issues.append(
                (f"profile {url} is for {profiled}, not {kind}", f"{path}.meta.profile[{index}]")
            )
    if kind != "Observation":
        return issues
    _possible(resource, path, issues)
    profiles = set(claimed)
    loinc = _loinc_codes(resource.get("code"))
    for url in sorted(profiles & _BY_PROFILE.keys()):
        if _BY_PROFILE[url] not in loinc:
            issues.append(
                (f"profile {url} needs the LOINC code {_BY_PROFILE[url]}", f"{path}.code")
            )
    categories = _categories(resource)
    vital_codes = [c for c in _loinc_codes(resource.get("code")) if c in VITAL_SIGNS]
    vital_codes += [
        _BY_PROFILE[p] for p in profiles if p in _BY_PROFILE and _BY_PROFILE[p] not in vital_codes
    ]
    claims_vitals = bool({VS + "vitalsigns", JP_VITAL_SIGNS} & profiles)
    is_phd = bool({(PHD_CATEGORY, "phd"), (PHD_CATEGORY, "phd-observation")} & categories)
    if vital_codes or claims_vitals:
        _vital_signs(resource, path, vital_codes, categories, is_phd, issues)
    claims_phd = any(
        _profiled_type(p) == "Observation" and p.startswith(PHD_PROFILE) and p != PHD_CTS_PROFILE
        for p in profiles
    )
    if claims_phd or is_phd:
        _phd(resource, path, categories, issues)
    return issues


def _vital_signs(
    resource: dict[str, Any],
    path: str,
    codes: list[str],
    categories: set[tuple[str, str]],
    is_phd: bool,
    issues: list[Issue],
) -> None:
    if (OBSERVATION_CATEGORY, "vital-signs") not in categories:
        issues.append(
            ("vital signs need category vital-signs (observation-category)", f"{path}.category")
        )
    subject = (resource.get("subject") or {}).get("reference")
    if not subject:
        issues.append(("vital signs need a subject", f"{path}.subject"))
    elif not (
        subject.startswith(("Patient/", "Patient?"))  # a conditional reference too
        or subject.startswith("urn:uuid:")
        or "/Patient/" in subject
        or _contained_type(resource, subject) == "Patient"
    ):
        if not (is_phd and "Device/" in subject):
            issues.append(("the subject of vital signs must be a Patient", f"{path}.subject"))
    effective = resource.get("effectiveDateTime")
    if effective is None and "effectivePeriod" not in resource:
        issues.append(
            ("vital signs need effectiveDateTime or effectivePeriod", f"{path}.effective[x]")
        )
    elif isinstance(effective, str) and len(effective) < 10:
        issues.append(
            ("vs-1: effectiveDateTime must be at least to the day", f"{path}.effectiveDateTime")
        )
    elif isinstance(effective, str):
        try:
            parse_date_range(effective, __import__("datetime").UTC)
        except (ValueError, OverflowError):
            issues.append(("effectiveDateTime is not a FHIR dateTime", f"{path}.effectiveDateTime"))
    components = resource.get("component", ())
    for index, component in enumerate(components):
        where = f"{path}.component[{index}]"
        if (
            not any(k.startswith("value") for k in component)
            and "dataAbsentReason" not in component
        ):
            issues.append(("vs-3: every component needs a value or a dataAbsentReason", where))
        if "valueQuantity" in component:
            _quantity(component, None, where, issues)
    for code in codes:
        name, units = VITAL_SIGNS[code]
        if name == "bp":
            _blood_pressure(resource, path, issues)
        elif name == "vitalspanel":
            if "hasMember" not in resource:
                issues.append(("the vital signs panel needs hasMember", f"{path}.hasMember"))
        elif not components and "hasMember" not in resource:
            if "valueQuantity" not in resource and "dataAbsentReason" not in resource:
                issues.append(
                    (f"{name}: needs valueQuantity or dataAbsentReason", f"{path}.value[x]")
                )
            elif "valueQuantity" in resource:
                _quantity(resource, units, path, issues)
        elif "valueQuantity" in resource:
            _quantity(resource, units, path, issues)


def _contained_type(resource: dict[str, Any], reference: str) -> str | None:
    """The resourceType of the contained resource a `#id` reference names, if any."""
    if not reference.startswith("#"):
        return None
    for inner in resource.get("contained", ()):
        if isinstance(inner, dict) and inner.get("id") == reference[1:]:
            return str(inner.get("resourceType"))
    return None


def _blood_pressure(resource: dict[str, Any], path: str, issues: list[Issue]) -> None:
    if any(key.startswith("value") for key in resource):
        issues.append(
            ("bp: the panel has no value of its own; values go in components", f"{path}.value[x]")
        )
    found: dict[str, dict[str, Any]] = {}
    for component in resource.get("component", ()):
        for code in _loinc_codes(component.get("code")):
            if code in _BP_COMPONENTS:
                found[code] = component
    for code, name in _BP_COMPONENTS.items():
        component = found.get(code)
        if component is None:
            issues.append((f"bp: the {name} component ({code}) is required", f"{path}.component"))
        elif "valueQuantity" in component:
            _quantity(component, frozenset({"mm[Hg]"}), f"{path}.component:{name}", issues)


def _phd(
    resource: dict[str, Any], path: str, categories: set[tuple[str, str]], issues: list[Issue]
) -> None:
    if not {(PHD_CATEGORY, "phd"), (PHD_CATEGORY, "phd-observation")} & categories:
        issues.append(("PHD observations need the phd category", f"{path}.category"))
    extensions = {e.get("url") for e in resource.get("extension", ()) if isinstance(e, dict)}
    if not extensions & GATEWAY_EXTENSIONS:
        issues.append(("PHD observations need the gatewayDevice extension", f"{path}.extension"))
    if not (resource.get("device") or {}).get("reference"):
        issues.append(("PHD observations need device.reference (the PHD Device)", f"{path}.device"))
    if not resource.get("subject"):
        issues.append(("PHD observations need a subject", f"{path}.subject"))
