"""Application-specific passwords: create, list, get, delete, and what each one opens."""

import base64

from client import MISSING, create_user, expect, user_token

erin = create_user("erin", "erin@example.com")
frank = create_user("frank")
path = f"/users/{erin}/asps"


def login(password, scope, status):
    body = {"username": "erin", "password": password, "scope": scope}
    expect("POST", "/authenticate", status, "AuthFailed" if status == 403 else None, body=body)


# Bad input is refused and creates nothing.
for body, key in [
    ({}, "description"),
    ({"description": "   "}, "description"),
    ({"description": "x" * 256}, "description"),
    ({"description": "d", "scopes": ["master"]}, "scopes"),
    ({"description": "d", "scopes": ["imap", "imap"]}, "scopes"),
    ({"description": "d", "password": "short"}, "password"),
    ({"description": "d", "password": "ABCDEFGHIJKLMNOP"}, "password"),
    ({"description": "d", "ttl": "soon"}, "ttl"),
]:
    refused = expect("POST", path, 400, "InputValidationError", body=body)
    assert key in refused["details"], (body, refused)
expect("POST", path, 400, "InvalidAuthScope", body={"description": "d", "scopes": ["pop3"], "generateMobileconfig": True})
expect("POST", f"/users/{MISSING}/asps", 404, "UserNotFound", body={"description": "d"})
assert expect("GET", path, 200)["results"] == []

# One for every protocol, one for POP3 only (chosen password, scopes as a string), one with a TTL.
phone = expect("POST", path, 200, body={"description": "phone"})
assert len(phone["password"]) == 16 and phone["password"].isalpha() and phone["password"].islower(), phone
pop = expect("POST", path, 200, body={"description": "pop", "scopes": "pop3", "password": "abcdefghijklmnop"})
assert pop["password"] == "abcdefghijklmnop", pop
session = expect("POST", path, 200, body={"description": "session", "scopes": ["*"], "ttl": 3600})

listed = expect("GET", path, 200)["results"]
assert [a["description"] for a in listed] == ["phone", "pop"], listed
assert listed[0]["scopes"] == ["imap", "pop3", "smtp"] and listed[1]["scopes"] == ["pop3"], listed
assert listed[0]["lastUse"] == {} and "password" not in listed[0], listed
every = expect("GET", path + "?showAll=true", 200)["results"]
assert [a["description"] for a in every] == ["phone", "pop", "session"], every
assert "expires" in every[2] and "expires" not in every[0], every

# What each opens: never the API; only its own scopes.
spaced = " ".join(phone["password"][i:i + 4] for i in range(0, 16, 4)).upper()
for scope, status in [("imap", 200), ("pop3", 200), ("smtp", 200), ("master", 403)]:
    login(phone["password"], scope, status)
login(spaced, "imap", 200)
for scope, status in [("pop3", 200), ("imap", 403), ("smtp", 403)]:
    login(pop["password"], scope, status)
got = expect("GET", f"{path}/{phone['id']}", 200)
assert got["description"] == "phone" and "time" in got["lastUse"], got

# Ids: malformed, unknown, another user's.
expect("GET", f"{path}/123", 400, "InputValidationError")
expect("GET", f"{path}/{MISSING}", 404, "AspNotFound")
expect("GET", f"/users/{frank}/asps/{phone['id']}", 404, "AspNotFound")
expect("DELETE", f"/users/{frank}/asps/{phone['id']}", 404, "AspNotFound")

# A user token manages its own ASPs only.
token = user_token("erin")
assert len(expect("GET", "/users/me/asps", 200, token=token)["results"]) == 2
expect("GET", f"/users/{frank}/asps", 403, "MissingPrivileges", token=token)
mine = expect("POST", "/users/me/asps", 200, token=token, body={"description": "mine"})
expect("DELETE", f"/users/me/asps/{mine['id']}", 200, token=token)

# Deleted: gone, and it no longer logs in.
expect("DELETE", f"{path}/{phone['id']}", 200)
expect("DELETE", f"{path}/{phone['id']}", 404, "AspNotFound")
login(phone["password"], "imap", 403)
login("secret-erin", "imap", 200)

# With an Apple configuration profile: the account, its servers and the new password.
profiled = expect("POST", path, 200, body={"description": "iPhone", "scopes": ["pop3", "smtp"], "generateMobileconfig": True})
profile = base64.b64decode(profiled["mobileconfig"]).decode()
assert profiled["address"] == "erin@example.com" and profiled["password"].isalpha(), profiled
for fragment in ("<key>EmailAccountType</key>\n<string>EmailTypePOP</string>",
                 f"<key>IncomingPassword</key>\n<string>{profiled['password']}</string>",
                 "<key>EmailAddress</key>\n<string>erin@example.com</string>",
                 "<key>PayloadDisplayName</key>\n<string>iPhone</string>"):
    assert fragment in profile, (fragment, profile)
login(profiled["password"], "pop3", 200)
expect("DELETE", f"{path}/{profiled['id']}", 200)

# At most 50 per user.
for n in range(50 - 2):
    expect("POST", path, 200, body={"description": f"device {n}"})
expect("POST", path, 403, "TooMany", body={"description": "one too many"})
print("asps: ok")
