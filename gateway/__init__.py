"""The home gateway: reads BLE devices with bleak, buffers readings durably, uploads FHIR."""
