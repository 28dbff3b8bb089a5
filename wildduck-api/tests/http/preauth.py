"""POST /preauth: whether a username or address may log in to a scope, without a password;
root only."""

from client import create_user, expect, user_token

gus = create_user("gus", "gus@example.com")
known = expect("POST", "/preauth", 200, body={"username": "gus@example.com"})
assert known == {"success": True, "id": gus, "username": "gus", "address": "gus@example.com",
                 "scope": "master", "require2fa": False}, known
assert expect("POST", "/preauth", 200, body={"username": "gus", "scope": "imap"})["scope"] == "imap"

expect("POST", "/preauth", 403, "AuthFailed", body={"username": "nobody@example.com"})
expect("POST", "/preauth", 400, "InputValidationError", body={})
expect("POST", "/preauth", 400, "InputValidationError", body={"username": "gus", "scope": "web"})

# A disabled scope is told (no secret was given); a disabled account reads as unknown.
expect("PUT", f"/users/{gus}", 200, body={"disabledScopes": ["imap"]})
expect("POST", "/preauth", 403, "InvalidAuthScope", body={"username": "gus", "scope": "imap"})
expect("POST", "/preauth", 200, body={"username": "gus", "scope": "pop3"})
expect("PUT", f"/users/{gus}", 200, body={"disabled": True})
expect("POST", "/preauth", 403, "AuthFailed", body={"username": "gus"})

# Users ask through root, as for /authenticate.
create_user("hal")
expect("POST", "/preauth", 403, "MissingPrivileges", token=user_token("hal"), body={"username": "hal"})
