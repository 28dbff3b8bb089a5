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
expect("PUT", f"/users/{alice}/addresses/{second}", 501, "NotImplemented", body={"main": True})

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

expect("DELETE", f"/users/me/addresses/{second}", 200, token=token)
expect("GET", "/addresses/resolve/alice.second@example.com", 404, "AddressNotFound")
print("addresses: ok")
