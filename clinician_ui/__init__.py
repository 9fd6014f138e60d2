"""The clinician web view, reading vitals through the FHIR API."""
