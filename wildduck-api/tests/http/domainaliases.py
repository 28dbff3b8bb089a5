"""Domain aliases: create, list, get, resolve, delete; logins and lookups through an alias;
root only."""

from urllib.parse import quote

from client import MISSING, create_user, expect, user_token, user_token_for

create_user("gina", "gina@example.com")
gina = user_token("gina")

# Bad input is refused and creates nothing.
for body, key in [
    ({"domain": "example.com"}, "alias"),
    ({"alias": "alias.example"}, "domain"),
    ({"alias": "x" * 256, "domain": "example.com"}, "alias"),
]:
    refused = expect("POST", "/domainaliases", 400, "InputValidationError", body=body)
    assert key in refused["details"], (body, refused)
expect("POST", "/domainaliases", 400, "InputValidationError", body={"alias": "not a domain", "domain": "example.com"})
assert expect("GET", "/domainaliases", 200)["results"] == []

# An internationalized alias, given as punycode, is kept and shown in Unicode.
created = expect("POST", "/domainaliases", 200, body={"alias": "XN--JGEVA-DUA.ee", "domain": "Example.com"})
alias_id = created["id"]
shown = expect("GET", f"/domainaliases/{alias_id}", 200)
assert shown["alias"] == "jõgeva.ee" and shown["domain"] == "example.com", shown
assert shown["created"].endswith("Z") or "+" in shown["created"], shown
assert expect("GET", quote("/domainaliases/resolve/jõgeva.ee", safe="/?=&@"), 200)["id"] == alias_id
assert expect("GET", "/domainaliases/resolve/xn--jgeva-dua.ee", 200)["id"] == alias_id
expect("POST", "/domainaliases", 400, "AliasExists", body={"alias": "jõgeva.ee", "domain": "other.example"})
expect("POST", "/domainaliases", 200, body={"alias": "b.example", "domain": "example.com"})

listed = expect("GET", "/domainaliases", 200)
assert [a["alias"] for a in listed["results"]] == ["b.example", "jõgeva.ee"], listed
assert listed["total"] == 2, listed
found = expect("GET", quote("/domainaliases?query=jõgeva", safe="/?=&@"), 200)["results"]
assert [a["id"] for a in found] == [alias_id], found

# The alias reaches the domain's addresses: lookups and logins.
resolved = expect("GET", quote("/addresses/resolve/gina@jõgeva.ee", safe="/?=&@"), 200)
assert resolved["address"] == "gina@example.com", resolved
token = user_token_for("gina@jõgeva.ee", "secret-gina")
assert expect("GET", "/users/me", 200, token=token)["username"] == "gina"
expect("GET", quote("/addresses/resolve/nobody@jõgeva.ee", safe="/?=&@"), 404, "AddressNotFound")

# Root only: a user token gets 403 on every route.
for method, path, body in [
    ("GET", "/domainaliases", None),
    ("POST", "/domainaliases", {"alias": "c.example", "domain": "example.com"}),
    ("GET", f"/domainaliases/{alias_id}", None),
    ("GET", quote("/domainaliases/resolve/jõgeva.ee", safe="/?=&@"), None),
    ("DELETE", f"/domainaliases/{alias_id}", None),
]:
    expect(method, path, 403, "MissingPrivileges", body=body, token=gina)

# Unknown and malformed ids.
expect("GET", f"/domainaliases/{MISSING}", 404, "AliasNotFound")
expect("GET", "/domainaliases/resolve/unknown.example", 404, "AliasNotFound")
expect("DELETE", f"/domainaliases/{MISSING}", 404, "AliasNotFound")
expect("GET", "/domainaliases/xyz", 400, "InputValidationError")

# Deleted, the alias reaches nothing any more.
expect("DELETE", f"/domainaliases/{alias_id}", 200)
expect("GET", f"/domainaliases/{alias_id}", 404, "AliasNotFound")
expect("GET", quote("/addresses/resolve/gina@jõgeva.ee", safe="/?=&@"), 404, "AddressNotFound")
expect("POST", "/authenticate", 403, "AuthFailed", body={"username": "gina@jõgeva.ee", "password": "secret-gina"})
print("domainaliases ok")
