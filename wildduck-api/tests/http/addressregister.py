"""The address register: filled by messages stored through the API (From of received mail,
To/Cc of mail put into Sent; never drafts), searched by address substring or name prefix,
entries disabled; a user token reaches only its own register."""

from client import MISSING, create_user, expect, user_token

alice = create_user("ann", "ann@example.com")
bob = create_user("bo", "bo@example.com")
mailboxes = expect("GET", f"/users/{alice}/mailboxes", 200)["results"]
inbox = next(m["id"] for m in mailboxes if m["path"] == "INBOX")
sent = next(m["id"] for m in mailboxes if m.get("specialUse") == "\\Sent")


def upload(mailbox, **fields):
    expect("POST", f"/users/{alice}/mailboxes/{mailbox}/messages", 200, body={"text": "hi", **fields})


upload(inbox, **{"from": {"name": "Zoë Writer", "address": "zoe@writers.example"}})
upload(sent, **{"from": {"address": "ann@example.com"}, "to": [{"name": "Carl", "address": "carl@readers.example"}]})
upload(inbox, draft=True, **{"from": {"name": "Drafty", "address": "draft@hidden.example"}})
upload(inbox, **{"from": {"address": "no-reply@service.example"}})


def search(query, token=None, user=alice):
    kwargs = {"token": token} if token else {}
    return expect("GET", f"/users/{user}/addressregister?query={query}", 200, **kwargs)["results"]


assert [r["address"] for r in search("writers")] == ["zoe@writers.example"]
assert [r["name"] for r in search("zo")] == ["Zoë Writer"]
assert [r["address"] for r in search("carl")] == ["carl@readers.example"]
assert search("hidden") == [] and search("service") == [] and search("ann@") == []
# The sender of Sent mail is not added; the recipients of received mail are not either.
assert search("example.com") == []

zoe = search("zoe")[0]["id"]
expect("PUT", f"/users/{alice}/addressregister/{zoe}", 200, body={"disabled": True})
assert search("zoe") == []
expect("PUT", f"/users/{alice}/addressregister/{MISSING}", 404, "AddressNotFound", body={"disabled": True})
expect("GET", f"/users/{alice}/addressregister", 400, "InputValidationError")

# A user token: its own register only.
token = user_token("bo")
assert search("carl", token=token, user=bob) == []
expect("GET", f"/users/{alice}/addressregister?query=carl", 403, "MissingPrivileges", token=token)
expect("PUT", f"/users/{alice}/addressregister/{zoe}", 403, "MissingPrivileges", token=token, body={"disabled": False})
