"""Webhooks: create, list (type and user filters, paging), delete; bad input stores nothing;
creating and deleting are root's, a user token lists only its own user's webhooks."""

from client import MISSING, create_user, expect, user_token

hana = create_user("hana", "hana@example.com")
ivo = create_user("ivo", "ivo@example.com")
hana_token = user_token("hana")

# Bad input is refused and creates nothing.
for body, key in [
    ({"url": "http://127.0.0.1:9/"}, "type"),
    ({"type": "user.*", "url": "http://127.0.0.1:9/"}, "type"),
    ({"type": [1], "url": "http://127.0.0.1:9/"}, "type"),
    ({"type": ["x" * 129], "url": "http://127.0.0.1:9/"}, "type"),
    ({"type": ["*"]}, "url"),
    ({"type": ["*"], "url": "http://127.0.0.1:9/", "user": "xyz"}, "user"),
]:
    refused = expect("POST", "/webhooks", 400, "InputValidationError", body=body)
    assert key in refused["details"], (body, refused)
expect("POST", "/webhooks", 400, "InputValidationError", body={"type": ["*"], "url": "ftp://example.com/"})
expect("POST", "/webhooks", 404, "UserNotFound", body={"type": ["*"], "url": "http://127.0.0.1:9/", "user": MISSING})
assert expect("GET", "/webhooks", 200)["results"] == []

every = expect("POST", "/webhooks", 200, body={"type": ["*"], "url": "http://127.0.0.1:9/all"})["id"]
users = expect("POST", "/webhooks", 200, body={"type": [" User.* ", "mailbox.created"], "url": "http://127.0.0.1:9/u"})["id"]
hanas = expect("POST", "/webhooks", 200, body={"type": ["mailbox.*"], "url": "http://127.0.0.1:9/h", "user": hana})["id"]

listed = expect("GET", "/webhooks", 200)
assert listed["total"] == 3, listed
assert [w["id"] for w in listed["results"]] == [every, users, hanas], listed
assert listed["results"][1] == {"id": users, "type": ["user.*", "mailbox.created"], "user": None, "url": "http://127.0.0.1:9/u"}, listed
assert listed["results"][2]["user"] == hana, listed

# Filters: an exact type of the pattern list, a user.
assert [w["id"] for w in expect("GET", "/webhooks?type=user.*", 200)["results"]] == [users]
assert [w["id"] for w in expect("GET", "/webhooks?type=MAILBOX.CREATED", 200)["results"]] == [users]
assert [w["id"] for w in expect("GET", f"/webhooks?user={hana}", 200)["results"]] == [hanas]
assert expect("GET", f"/webhooks?user={ivo}", 200)["results"] == []
expect("GET", "/webhooks?user=nothex", 400, "InputValidationError")

# Paging by id.
first = expect("GET", "/webhooks?limit=2", 200)
assert [w["id"] for w in first["results"]] == [every, users] and first["nextCursor"], first
second = expect("GET", f"/webhooks?limit=2&next={first['nextCursor']}", 200)
assert [w["id"] for w in second["results"]] == [hanas] and second["nextCursor"] is False, second
back = expect("GET", f"/webhooks?limit=2&previous={second['previousCursor']}", 200)
assert [w["id"] for w in back["results"]] == [every, users], back
expect("GET", "/webhooks?limit=0", 400, "InputValidationError")

# A user token lists its own user's webhooks only, and may not create or delete.
mine = expect("GET", "/webhooks", 200, token=hana_token)
assert [w["id"] for w in mine["results"]] == [hanas], mine
assert [w["id"] for w in expect("GET", f"/webhooks?user={ivo}", 200, token=hana_token)["results"]] == [hanas]
expect("POST", "/webhooks", 403, "MissingPrivileges", body={"type": ["*"], "url": "http://127.0.0.1:9/", "user": hana}, token=hana_token)
expect("DELETE", f"/webhooks/{hanas}", 403, "MissingPrivileges", token=hana_token)

# Delete: malformed and unknown ids, then gone for good.
expect("DELETE", "/webhooks/xyz", 400, "InputValidationError")
expect("DELETE", f"/webhooks/{MISSING}", 404, "WebhookNotFound")
expect("DELETE", f"/webhooks/{users}", 200)
expect("DELETE", f"/webhooks/{users}", 404, "WebhookNotFound")
assert [w["id"] for w in expect("GET", "/webhooks", 200)["results"]] == [every, hanas]
print("webhooks ok")
