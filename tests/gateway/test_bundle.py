"""FHIR search escaping in ifNoneExist, and Bundle determinism."""

from gateway.mapping.bundle import token_query


def test_token_query_escapes_fhir_specials_and_percent_encodes():
    assert token_query("identifier", "urn:oid:1.2.3", "A-1") == "identifier=urn:oid:1.2.3|A-1"
    assert token_query("identifier", "http://x.org/ids", "a,b|c$d\\e f&g") == (
        "identifier=http://x.org/ids|a%5C%2Cb%5C|c%5C%24d%5C%5Ce%20f%26g"
    )
