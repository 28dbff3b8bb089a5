"""TLS certificates: set (checked against the key), list, get, resolve, delete; root only;
private keys never shown."""

import os

from client import MISSING, create_user, expect, user_token

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


create_user("iris")
iris = user_token("iris")
example_key, example_crt = fixture("example.key"), fixture("example.crt")
san_key, san_crt = fixture("san.key"), fixture("san.crt")

# A key that is not the certificate's, a certificate that is not PEM, ACME: refused.
expect("POST", "/certs", 400, "InputValidationError", body={"privateKey": san_key, "cert": example_crt})
expect("POST", "/certs", 400, "InputValidationError", body={"privateKey": example_key, "cert": "junk"})
expect("POST", "/certs", 400, "InputValidationError", body={"privateKey": "junk", "cert": example_crt})
expect("POST", "/certs", 400, "InputValidationError", body={"servername": "example.com"})
expect("POST", "/certs", 501, "NotImplemented", body={"servername": "example.com", "acme": True})
assert expect("GET", "/certs", 200)["results"] == []

# WildDuck's own fixture (expired in 2022, common name only): the name from the subject.
first = expect("POST", "/certs", 200, body={"servername": "example.com", "privateKey": example_key, "cert": example_crt, "description": "old"})
assert first["servername"] == "example.com" and first["altNames"] == ["example.com"], first
assert first["expires"].startswith("2022-11-30"), first
assert "privateKey" not in first and len(first["fingerprint"].split(":")) == 32, first

# Names from the subject alternative names (IDN shown in Unicode); the servername from the
# common name when none is given.
second = expect("POST", "/certs", 200, body={"privateKey": san_key, "cert": san_crt})
assert second["servername"] == "mail.example.com", second
assert second["altNames"] == ["mail.example.com", "*.example.net", "jõgeva.ee"], second

# Setting the same server name again replaces the certificate under the same id.
again = expect("POST", "/certs", 200, body={"servername": "EXAMPLE.com", "privateKey": example_key, "cert": example_crt, "description": "new"})
assert again["id"] == first["id"], (again, first)
shown = expect("GET", f"/certs/{first['id']}", 200)
assert shown["description"] == "new" and "privateKey" not in shown, shown

listed = expect("GET", "/certs", 200)
assert [c["servername"] for c in listed["results"]] == ["example.com", "mail.example.com"], listed
assert [c["servername"] for c in expect("GET", "/certs?query=mail", 200)["results"]] == ["mail.example.com"]
assert expect("GET", "/certs?query=net", 200)["results"] == []
assert [c["servername"] for c in expect("GET", "/certs?query=net&altNames=true", 200)["results"]] == ["mail.example.com"]
assert expect("GET", "/certs/resolve/Mail.Example.com", 200)["id"] == second["id"]

# Root only.
for method, path, body in [
    ("GET", "/certs", None),
    ("POST", "/certs", {"privateKey": example_key, "cert": example_crt}),
    ("GET", f"/certs/{first['id']}", None),
    ("GET", "/certs/resolve/example.com", None),
    ("DELETE", f"/certs/{first['id']}", None),
]:
    expect(method, path, 403, "MissingPrivileges", body=body, token=iris)

expect("DELETE", f"/certs/{first['id']}", 200)
expect("GET", f"/certs/{first['id']}", 404, "CertNotFound")
expect("GET", "/certs/resolve/example.com", 404, "CertNotFound")
expect("DELETE", f"/certs/{MISSING}", 404, "CertNotFound")
assert [c["id"] for c in expect("GET", "/certs", 200)["results"]] == [second["id"]]
print("certs ok")
