"""Addresses: error cases and isolation the WildDuck suites do not cover."""

from client import MISSING, create_user, expect, user_token

alice = create_user("alice", "alice@example.com")
bob = create_user("bob", "bob@example.com")
token = user_token("alice")

expect("GET", f"/users/{MISSING}/addresses", 404, "UserNotFound")
expect("POST", f"/users/{MISSING}/addresses", 404, "UserNotFound", body={"address": "x@example.com"})
expect("GET", "/users/123/addresses", 400, "InputValidationError")
expect("GET", f"/users/{alice}/addresses/123", 400, "InputValidationError")
expect("GET", f"/users/{alice}/addresses/{MISSING}", 404, "AddressNotFound")
expect("POST", f"/users/{alice}/addresses", 400, "InputValidationError", body={})
expect("POST", f"/users/{alice}/addresses", 400, "InputValidationError", body={"address": "not an address"})
expect("GET", "/addresses/resolve/nobody@example.com", 404, "AddressNotFound")
expect("GET", "/addresses?limit=-1", 400, "InputValidationError")

second = expect("POST", f"/users/{alice}/addresses", 200, body={"address": "Alice.Second@Example.com"})["id"]
# The same address (dots and case ignored) can not be taken twice, by anyone.
expect("POST", f"/users/{bob}/addresses", 400, "AddressExistsError", body={"address": "alicesecond@example.com"})
resolved = expect("GET", "/addresses/resolve/alice.second+tag@example.com", 200)
assert resolved["id"] == second and resolved["user"] == alice, resolved

listed = expect("GET", f"/users/{alice}/addresses", 200)["results"]
main = [a for a in listed if a["main"]]
assert len(listed) == 2 and len(main) == 1 and main[0]["address"] == "alice@example.com", listed
expect("DELETE", f"/users/{alice}/addresses/{main[0]['id']}", 400, "NotPermitted")
# Choosing another main address: the old one can be deleted then, the new one not.
expect("PUT", f"/users/{alice}/addresses/{second}", 200, body={"main": True, "tags": ["x", "Y"], "name": "Two"})
listed = {a["id"]: a for a in expect("GET", f"/users/{alice}/addresses", 200)["results"]}
assert listed[second]["main"] and not listed[main[0]["id"]]["main"], listed
assert listed[second]["tags"] == ["x", "Y"] and listed[second]["name"] == "Two", listed
assert expect("GET", "/users/" + alice, 200)["address"] == "alice.second@example.com"
expect("DELETE", f"/users/{alice}/addresses/{second}", 400, "NotPermitted")
expect("PUT", f"/users/{alice}/addresses/{main[0]['id']}", 200, body={"main": True})
expect("PUT", f"/users/{alice}/addresses/{second}", 501, "NotImplemented", body={"address": "renamed@example.com"})
expect("PUT", f"/users/{alice}/addresses/{second}", 400, "InputValidationError", body={"tags": "x" * 129})

# Another user's address id is unknown under this user, for root too.
bobs = expect("GET", f"/users/{bob}/addresses", 200)["results"][0]["id"]
expect("GET", f"/users/{alice}/addresses/{bobs}", 404, "AddressNotFound")
expect("DELETE", f"/users/{alice}/addresses/{bobs}", 404, "AddressNotFound")

# A user token sees and changes its own addresses only.
assert len(expect("GET", "/users/me/addresses", 200, token=token)["results"]) == 2
expect("GET", f"/users/{bob}/addresses", 403, "MissingPrivileges", token=token)
expect("POST", f"/users/{bob}/addresses", 403, "MissingPrivileges", token=token, body={"address": "mine@example.com"})
expect("DELETE", f"/users/{bob}/addresses/{bobs}", 403, "MissingPrivileges", token=token)
expect("GET", "/addresses/resolve/bob@example.com", 403, "MissingPrivileges", token=token)
own = expect("GET", "/addresses", 200, token=token)
assert own["total"] == 2 and {a["user"] for a in own["results"]} == {alice}, own
assert expect("GET", "/addresses", 200)["total"] == 3

assert [a["id"] for a in expect("GET", "/addresses?tags=y,nope", 200)["results"]] == [second]
assert expect("GET", "/addresses?requiredTags=y,nope", 200)["total"] == 0
assert expect("GET", "/addresses?requiredTags=Y,X", 200)["total"] == 1

# Forwarded addresses: root only; one lookup key space with users' addresses.
expect("POST", "/addresses/forwarded", 400, "AddressExistsError",
       body={"address": "alice@example.com", "targets": ["x@remote.test"]})
expect("POST", "/addresses/forwarded", 400, "InputValidationError",
       body={"address": "fwd@example.com", "targets": ["not a target"]})
forwarded = expect("POST", "/addresses/forwarded", 200, body={
    "address": "Fwd@Example.com", "targets": ["x@remote.test"], "tags": ["T1"],
    "autoreply": {"status": True, "subject": "Away", "start": "2030-01-01T00:00:00.000Z"}})["id"]
expect("POST", f"/users/{bob}/addresses", 400, "AddressExistsError", body={"address": "f.w.d@example.com"})
shown = expect("GET", f"/addresses/forwarded/{forwarded}", 200)
assert shown["address"] == "fwd@example.com" and shown["targets"] == ["x@remote.test"], shown
assert shown["autoreply"]["subject"] == "Away" and shown["autoreply"]["start"] == "2030-01-01T00:00:00.000Z", shown
assert expect("GET", "/addresses/resolve/fwd+x@example.com", 200)["id"] == forwarded
listed = expect("GET", "/addresses?query=fwd@", 200)
assert listed["total"] == 1 and listed["results"][0]["forwarded"] is True, listed
expect("PUT", f"/addresses/forwarded/{forwarded}", 200, body={"tags": ["tAG2", "tag2"], "forwardedDisabled": True})
shown = expect("GET", f"/addresses/forwarded/{forwarded}", 200)
assert shown["tags"] == ["tAG2"] and shown["forwardedDisabled"] is True and shown["targets"] == ["x@remote.test"], shown
expect("PUT", f"/addresses/forwarded/{forwarded}", 400, "AddressExistsError", body={"address": "bob@example.com"})
expect("GET", f"/addresses/forwarded/{MISSING}", 404, "AddressNotFound")
expect("GET", "/addresses/forwarded/123", 400, "InputValidationError")
for method, body in [("GET", None), ("PUT", {"tags": []}), ("DELETE", None)]:
    expect(method, f"/addresses/forwarded/{forwarded}", 403, "MissingPrivileges", token=token, body=body)
expect("POST", "/addresses/forwarded", 403, "MissingPrivileges", token=token,
       body={"address": "mine@example.com", "targets": ["x@remote.test"]})
assert all(not a["forwarded"] for a in expect("GET", "/addresses", 200, token=token)["results"])
expect("DELETE", f"/addresses/forwarded/{forwarded}", 200)
expect("DELETE", f"/addresses/forwarded/{forwarded}", 404, "AddressNotFound")

expect("DELETE", f"/users/me/addresses/{second}", 200, token=token)
expect("GET", "/addresses/resolve/alice.second@example.com", 404, "AddressNotFound")
print("addresses: ok")
