"""Domain access lists: add to the allow and block lists of a tag, list, move, delete; root
only."""

from client import MISSING, create_user, expect, user_token

create_user("hank")
hank = user_token("hank")
tag = "account:123"

for domain in ["jõgeva.ee", "example.com"]:
    expect("POST", f"/domainaccess/{tag}/block", 200, body={"domain": domain})
expect("POST", f"/domainaccess/{tag}/allow", 200, body={"domain": "friends.example"})
expect("POST", "/domainaccess/other/block", 200, body={"domain": "spam.example"})
refused = expect("POST", f"/domainaccess/{tag}/block", 400, "InputValidationError", body={})
assert "domain" in refused["details"], refused
expect("POST", f"/domainaccess/{tag}/block", 400, "InputValidationError", body={"domain": "no such thing"})
expect("POST", f"/domainaccess/{tag}/maybe", 404, body={"domain": "example.com"})

# Sorted by domain; the tag is compared without case.
blocked = expect("GET", "/domainaccess/ACCOUNT:123/block", 200)["results"]
assert [e["domain"] for e in blocked] == ["example.com", "jõgeva.ee"], blocked
assert all(e["action"] == "block" for e in blocked), blocked
allowed = expect("GET", f"/domainaccess/{tag}/allow", 200)["results"]
assert [e["domain"] for e in allowed] == ["friends.example"], allowed

# Allowing a blocked domain moves it, keeping its id.
moved = expect("POST", f"/domainaccess/{tag}/allow", 200, body={"domain": "XN--JGEVA-DUA.EE"})
assert moved["id"] == blocked[1]["id"], (moved, blocked)
assert [e["domain"] for e in expect("GET", f"/domainaccess/{tag}/block", 200)["results"]] == ["example.com"]
assert [e["domain"] for e in expect("GET", f"/domainaccess/{tag}/allow", 200)["results"]] == [
    "friends.example",
    "jõgeva.ee",
]

# Root only.
for method, path, body in [
    ("GET", f"/domainaccess/{tag}/block", None),
    ("POST", f"/domainaccess/{tag}/allow", {"domain": "x.example"}),
    ("DELETE", f"/domainaccess/{moved['id']}", None),
]:
    expect(method, path, 403, "MissingPrivileges", body=body, token=hank)

deleted = expect("DELETE", f"/domainaccess/{moved['id']}", 200)
assert deleted["deleted"] == moved["id"], deleted
expect("DELETE", f"/domainaccess/{moved['id']}", 404, "DomainNotFound")
expect("DELETE", f"/domainaccess/{MISSING}", 404, "DomainNotFound")
expect("DELETE", "/domainaccess/xyz", 400, "InputValidationError")
assert [e["domain"] for e in expect("GET", f"/domainaccess/{tag}/allow", 200)["results"]] == ["friends.example"]
print("domainaccess ok")
