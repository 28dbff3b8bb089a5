"""DKIM keys: generated or given (RSA PKCS#1/PKCS#8, Ed25519 PEM or raw), one per domain,
list, get, resolve, delete; root only; private keys never shown."""

import base64
import os

from urllib.parse import quote

from client import MISSING, create_user, expect, user_token

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


create_user("jack")
jack = user_token("jack")

for body, key in [
    ({"selector": "s"}, "domain"),
    ({"domain": "example.com"}, "selector"),
]:
    refused = expect("POST", "/dkim", 400, "InputValidationError", body=body)
    assert key in refused["details"], (body, refused)
expect("POST", "/dkim", 400, "InputValidationError", body={"domain": "example.com", "selector": "bad selector"})
expect("POST", "/dkim", 400, "InputValidationError", body={"domain": "example.com", "selector": "s", "privateKey": "junk"})
assert expect("GET", "/dkim", 200)["results"] == []

# Generated: a 2048-bit RSA key, published as its SubjectPublicKeyInfo.
generated = expect("POST", "/dkim", 200, body={"domain": "Example.com", "selector": "wildduck", "description": "d"})
assert generated["domain"] == "example.com" and "privateKey" not in generated, generated
assert generated["dnsTxt"]["name"] == "wildduck._domainkey.example.com", generated
value = generated["dnsTxt"]["value"]
assert value.startswith("v=DKIM1;") and value.count("p=") == 1, value
spki = base64.b64decode(value.split("p=")[1])
assert 290 <= len(spki) <= 300, len(spki)  # 2048-bit RSA
assert generated["publicKey"].startswith("-----BEGIN PUBLIC KEY-----"), generated

# Given keys replace the domain's key under the same id.
rsa = expect("POST", "/dkim", 200, body={"domain": "example.com", "selector": "s1", "privateKey": fixture("dkim-rsa1024.key")})
assert rsa["id"] == generated["id"] and rsa["selector"] == "s1", rsa
ed_pem = expect("POST", "/dkim", 200, body={"domain": "example.com", "selector": "s2", "privateKey": fixture("dkim-ed25519.key")})
assert "k=ed25519" in ed_pem["dnsTxt"]["value"], ed_pem
assert len(base64.b64decode(ed_pem["dnsTxt"]["value"].split("p=")[1])) == 32, ed_pem
ed_raw = expect("POST", "/dkim", 200, body={"domain": "example.com", "selector": "s3", "privateKey": "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="})
assert ed_raw["id"] == generated["id"] and ed_raw["fingerprint"] != ed_pem["fingerprint"], ed_raw
other = expect("POST", "/dkim", 200, body={"domain": "xn--jgeva-dua.ee", "selector": "s", "privateKey": fixture("dkim-rsa1024.key")})
assert other["domain"] == "jõgeva.ee" and other["id"] != generated["id"], other

listed = expect("GET", "/dkim", 200)
assert [k["domain"] for k in listed["results"]] == ["example.com", "jõgeva.ee"], listed
assert all("privateKey" not in k and "publicKey" not in k for k in listed["results"]), listed
shown = expect("GET", f"/dkim/{generated['id']}", 200)
assert shown["selector"] == "s3" and "privateKey" not in shown, shown
assert expect("GET", "/dkim/resolve/EXAMPLE.com", 200)["id"] == generated["id"]
assert expect("GET", quote("/dkim/resolve/jõgeva.ee", safe="/?=&@"), 200)["id"] == other["id"]

for method, path, body in [
    ("GET", "/dkim", None),
    ("POST", "/dkim", {"domain": "example.com", "selector": "s"}),
    ("GET", f"/dkim/{generated['id']}", None),
    ("GET", "/dkim/resolve/example.com", None),
    ("DELETE", f"/dkim/{generated['id']}", None),
]:
    expect(method, path, 403, "MissingPrivileges", body=body, token=jack)

expect("DELETE", f"/dkim/{generated['id']}", 200)
expect("GET", f"/dkim/{generated['id']}", 404, "DkimNotFound")
expect("GET", "/dkim/resolve/example.com", 404, "DkimNotFound")
expect("DELETE", f"/dkim/{MISSING}", 404, "DkimNotFound")
print("dkim ok")
