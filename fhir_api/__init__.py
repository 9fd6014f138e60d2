"""The HomeVitals FHIR R4 server (FastAPI) and its storage."""
