"""Users and tokens: error cases and isolation the WildDuck suites do not cover."""

from client import MISSING, ROOT, call, create_user, expect, user_token, user_token_for

# Who may ask at all.
expect("GET", "/users", 403, "InvalidToken", token=None)
expect("GET", "/users", 403, "InvalidToken", token="wrong")
expect("GET", "/users", 200, token=None, headers={"Authorization": "Bearer " + ROOT})
expect("GET", "/users?accessToken=" + ROOT, 200, token=None)
expect("GET", "/health", 403, "InvalidToken", token=None)
expect("GET", "/health", 200)

# Bad ids, unknown users, bad input.
expect("GET", "/users/123", 400, "InputValidationError")
expect("GET", "/users/" + "z" * 24, 400, "InputValidationError")
expect("GET", "/users/" + MISSING, 404, "UserNotFound")
expect("PUT", "/users/" + MISSING, 404, "UserNotFound", body={"password": "another-one"})
expect("DELETE", "/users/" + MISSING, 404, "UserNotFound")
expect("GET", "/users/resolve/nobody", 404, "UserNotFound")
invalid = expect("POST", "/users", 400, "InputValidationError", body={"username": "ömyuser", "password": "x"})
assert "username" in invalid["details"], invalid
expect("POST", "/users", 400, "InputValidationError", body={"password": "no-username"})
expect("POST", "/users", 400, "InvalidContent", raw=b"{not json")
expect("POST", "/users", 400, "InvalidContent", raw=b"[1, 2]")
expect("POST", "/users", 400, "InvalidContent", raw=b"[" * 100000 + b"]" * 100000)
expect("POST", "/users", 400, "InvalidContent", raw=b'{"username": "\xff", "password": "x"}')
expect("GET", "/users?limit=0", 400, "InputValidationError")
expect("GET", "/users?limit=251", 400, "InputValidationError")
expect("GET", "/nowhere", 404, "ResourceNotFound")
expect("PATCH", "/users", 405, "MethodNotAllowed")

# A field we can not honour is refused, and nothing is created.
expect("POST", "/users", 400, "InputValidationError",
       body={"username": "hashed", "password": "$unknown$format", "hashedPassword": True})
expect("GET", "/users/resolve/hashed", 404, "UserNotFound")
for scopes, message in [
    (["imap", "master"], '"disabledScopes[1]" must be one of [imap, pop3, smtp]'),
    (["pop3", "pop3"], '"disabledScopes[1]" contains a duplicate value'),
    ("imap", '"disabledScopes" must be an array'),
]:
    refused = expect("POST", "/users", 400, "InputValidationError",
                     body={"username": "scoped", "password": "x1", "disabledScopes": scopes})
    assert refused["error"] == message, refused
expect("GET", "/users/resolve/scoped", 404, "UserNotFound")
for targets in [["elsewhere"], ["ftp://example.com/"], ["smtp://"], "a@example.com", [7]]:
    expect("POST", "/users", 400, "InputValidationError",
           body={"username": "forwards", "password": "x1", "targets": targets})
expect("POST", "/users", 400, "InputValidationError",
       body={"username": "forwards", "password": "x1", "metaData": "[1, 2]"})
expect("POST", "/users", 501, "NotImplemented",
       body={"username": "expiring", "password": "x1", "retention": 86400000})
# A public key must look like one and be one mail can be encrypted to; refused, no user is made.
expect("POST", "/users", 400, "InputValidationError",
       body={"username": "sealed", "password": "x1", "pubKey": "not a key"})
broken = expect("POST", "/users", 400, "InputValidationError", body={
    "username": "sealed", "password": "x1", "encryptMessages": True,
    "pubKey": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----"})
assert broken["error"].startswith("PGP key validation failed."), broken
for refused in ["forwards", "expiring", "sealed"]:
    assert expect("GET", "/users?query=" + refused, 200)["total"] == 0, refused

# An imported bcrypt hash (made by Python's bcrypt, "$2a$" as WildDuck's bcryptjs writes,
# password "secret") logs in; then disabled scopes and suspension, set by root only.
hashed = expect("POST", "/users", 200, body={
    "username": "hashed", "hashedPassword": True,
    "password": "$2a$10$22vvGrGj/EcGKTpkzLquOutO7dZ5l.PrmCLuYe6B5VhHlp9z9m63q"})["id"]
expect("POST", "/authenticate", 200, body={"username": "hashed", "password": "secret"})
scoped = expect("POST", "/users", 200, body={
    "username": "scoped", "password": "scoped-pass", "disabledScopes": ["pop3", "imap"]})["id"]
shown = expect("GET", "/users/" + scoped, 200)
assert shown["disabledScopes"] == ["imap", "pop3"] and shown["suspended"] is False, shown
for scope, status in [("imap", 403), ("pop3", 403), ("smtp", 200), ("master", 200)]:
    expect("POST", "/authenticate", status, "AuthFailed" if status == 403 else None,
           body={"username": "scoped", "password": "scoped-pass", "scope": scope})
expect("PUT", "/users/" + scoped, 200, body={"disabledScopes": [], "suspended": True})
shown = expect("GET", "/users/" + scoped, 200)
assert shown["disabledScopes"] == [] and shown["suspended"] is True, shown
for scope in ["imap", "master"]:
    expect("POST", "/authenticate", 403, "AuthFailed",
           body={"username": "scoped", "password": "scoped-pass", "scope": scope})
expect("PUT", "/users/" + scoped, 400, "InputValidationError", body={"disabledScopes": ["web"]})
expect("PUT", "/users/" + scoped, 200, body={"suspended": False})
scoped_token = user_token_for("scoped", "scoped-pass")
for change in [{"disabledScopes": []}, {"suspended": False}]:
    expect("PUT", "/users/me", 403, "MissingPrivileges", token=scoped_token, body=change)
expect("POST", "/authenticate", 400, "InputValidationError",
       body={"username": "scoped", "password": "scoped-pass", "scope": "web"})
for user in [hashed, scoped]:
    expect("DELETE", "/users/" + user, 200)

alice = create_user("alice", "alice@example.com")
bob = create_user("bob", "bob@example.com")

# Profile fields are kept and shown; internalData only to root, and only root sets it.
profiled = expect("POST", "/users", 200, body={
    "username": "profiled", "password": "secret-profiled", "name": "Pro Filed",
    "address": "profiled@example.com", "tags": ["b", " A ", "a"],
    "targets": ["Copy@Remote.test", "smtp://mx.remote.test:2525", "https://hook.test/in"],
    "forwards": 20, "metaData": {"icon": "p.png"}, "internalData": '{"trial": true}'})["id"]
shown = expect("GET", "/users/" + profiled, 200)
assert shown["name"] == "Pro Filed" and shown["tags"] == ["A", "b"], shown
assert shown["targets"] == ["Copy@Remote.test", "smtp://mx.remote.test:2525", "https://hook.test/in"], shown
assert shown["metaData"] == {"icon": "p.png"} and shown["internalData"] == {"trial": True}, shown
assert shown["limits"]["forwards"]["allowed"] == 20, shown
expect("PUT", "/users/" + profiled, 200, body={"name": "Renamed", "targets": []})
shown = expect("GET", "/users/" + profiled, 200)
assert shown["name"] == "Renamed" and shown["targets"] == [] and shown["tags"] == ["A", "b"], shown
assert [r["id"] for r in expect("GET", "/users?tags=a,zzz", 200)["results"]] == [profiled]
assert expect("GET", "/users?requiredTags=a,zzz", 200)["total"] == 0
profiled_token = user_token_for("profiled", "secret-profiled")
own = expect("GET", "/users/me", 200, token=profiled_token)
assert "internalData" not in own and own["metaData"] == {"icon": "p.png"}, own
# As WildDuck's role filter: a user token's internalData is dropped, not stored.
expect("PUT", "/users/me", 200, token=profiled_token, body={"internalData": {}})
assert expect("GET", "/users/" + profiled, 200)["internalData"] == {"trial": True}
expect("PUT", "/users/me", 200, token=profiled_token, body={"name": "Mine"})
assert expect("GET", "/users/" + profiled, 200)["name"] == "Mine"
expect("GET", "/users/" + alice, 403, "MissingPrivileges", token=profiled_token)
expect("PUT", "/users/" + alice, 403, "MissingPrivileges", token=profiled_token, body={"name": "Not yours"})
assert expect("GET", "/users/" + alice, 200)["name"] is None

# Without an address the account gets one made of its name (unless emptyAddress).
made = expect("POST", "/users", 200, body={"username": "noaddr", "password": "secret-noaddr"})["id"]
assert expect("GET", "/users/" + made, 200)["address"].startswith("noaddr@")
bare = expect("POST", "/users", 200, body={"username": "bare", "password": "x1", "emptyAddress": True})["id"]
assert expect("GET", "/users/" + bare, 200)["address"] is None

# A password reset: a temporary password for the API only, from `validAfter`, asking for a
# change; the account password still works; a new password ends it.
temporary = expect("POST", f"/users/{profiled}/password/reset", 200, body={})["password"]
login = expect("POST", "/authenticate", 200, body={"username": "profiled", "password": temporary})
assert login["requirePasswordChange"] is True, login
expect("POST", "/authenticate", 403, "AuthFailed",
       body={"username": "profiled", "password": temporary, "scope": "imap"})
assert expect("POST", "/authenticate", 200,
              body={"username": "profiled", "password": "secret-profiled"})["requirePasswordChange"] is False
future = expect("POST", f"/users/{profiled}/password/reset", 200,
                body={"validAfter": "2999-01-01T00:00:00.000Z"})
assert future["validAfter"] == "2999-01-01T00:00:00.000Z", future
expect("POST", "/authenticate", 403, "AuthFailed", body={"username": "profiled", "password": future["password"]})
expect("POST", f"/users/{profiled}/password/reset", 400, "InputValidationError", body={"validAfter": "soon"})
current = expect("POST", f"/users/{profiled}/password/reset", 200, body={})["password"]
expect("PUT", "/users/" + profiled, 200, body={"password": "secret-profiled"})
expect("POST", "/authenticate", 403, "AuthFailed", body={"username": "profiled", "password": current})
expect("POST", f"/users/{MISSING}/password/reset", 404, "UserNotFound", body={})
expect("GET", "/users/me", 403, "InvalidToken", token=profiled_token)  # ended by the new password
profiled_token = user_token_for("profiled", "secret-profiled")
expect("POST", f"/users/{alice}/password/reset", 403, "MissingPrivileges", token=profiled_token, body={})
expect("POST", "/quota/reset", 403, "MissingPrivileges", token=profiled_token, body={})
assert isinstance(expect("POST", "/quota/reset", 200, body={})["task"], str)
for user in [profiled, made, bare]:
    expect("DELETE", "/users/" + user, 200)
expect("POST", "/users", 400, "UserExistsError", body={"username": "alice", "password": "again"})
assert expect("GET", "/users/resolve/alice", 200)["id"] == alice
assert expect("GET", "/users/" + alice, 200)["address"] == "alice@example.com"

# Paging walks every user exactly once.
for name in ["carol", "dave", "erin"]:
    create_user(name)
seen, cursor = [], None
while True:
    page = expect("GET", "/users?limit=2" + (f"&next={cursor}" if cursor else ""), 200)
    seen += [row["id"] for row in page["results"]]
    assert page["total"] == 5, page
    cursor = page["nextCursor"]
    if cursor is False:
        break
assert len(seen) == 5 and len(set(seen)) == 5, seen
assert [r["username"] for r in expect("GET", "/users?query=ARO", 200)["results"]] == ["carol"]

# Authentication and user tokens.
expect("POST", "/authenticate", 403, "AuthFailed", body={"username": "alice", "password": "wrong"})
expect("POST", "/authenticate", 403, "AuthFailed", body={"username": "nobody", "password": "x"})
token = user_token("alice")
second = user_token("alice")
assert expect("GET", "/users/me", 200, token=token)["id"] == alice
expect("GET", "/users/me", 400, "InputValidationError")  # root has no "me"

# A user token never reaches another user, nor root-only routes.
expect("GET", "/users/" + bob, 403, "MissingPrivileges", token=token)
expect("PUT", "/users/" + bob, 403, "MissingPrivileges", token=token, body={"password": "stolen-pw"})
expect("DELETE", "/users/" + bob, 403, "MissingPrivileges", token=token)
expect("DELETE", "/users/" + alice, 403, "MissingPrivileges", token=token)
expect("POST", "/users", 403, "MissingPrivileges", token=token, body={"username": "mallory", "password": "x1"})
expect("GET", "/users/resolve/bob", 403, "MissingPrivileges", token=token)
expect("POST", "/authenticate", 403, "MissingPrivileges", token=token, body={"username": "bob", "password": "secret-bob"})
expect("POST", f"/users/{bob}/quota/reset", 403, "MissingPrivileges", token=token)
expect("PUT", "/users/me", 403, "MissingPrivileges", token=token, body={"quota": 1 << 40})
assert [r["id"] for r in expect("GET", "/users", 200, token=token)["results"]] == [alice]

# A password change through one token ends the others; DELETE /authenticate ends its own.
expect("PUT", "/users/me", 200, token=token, body={"password": "secret-alice"})
expect("GET", "/users/me", 200, token=token)
expect("GET", "/users/me", 403, "InvalidToken", token=second)
expect("DELETE", "/authenticate", 200, token=token)
expect("GET", "/users/me", 403, "InvalidToken", token=token)

# Quota numbers; deleting a user ends its tokens and its addresses.
quota = expect("POST", f"/users/{alice}/quota/reset", 200)
assert quota["storageUsed"] == 0 and quota["previousStorageUsed"] == 0, quota
bobs = user_token("bob")
deleted = expect("DELETE", "/users/" + bob, 200)
assert deleted["addresses"]["deleted"] == 1, deleted
expect("GET", "/users/me", 403, "InvalidToken", token=bobs)
expect("GET", "/users/" + bob, 404, "UserNotFound")
status, _ = call("GET", "/addresses/resolve/bob@example.com")
assert status == 404, status
print("users: ok")
