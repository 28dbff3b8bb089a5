"""Settings: WildDuck's known keys with this install's defaults, overrides kept and used by
the rules that read them (daily recipients, filters), root only, values checked by type."""

from client import call, create_user, expect, user_token

KEYS = [
    "const:archive:time", "const:asp:limit", "const:authlog:time", "const:autoreply:interval",
    "const:domaincache:enabled", "const:max:bulk_batch_size", "const:max:filters",
    "const:max:forwards", "const:max:imap:download", "const:max:imap:upload",
    "const:max:mailboxes", "const:max:pop3:download", "const:max:rcpt_to",
    "const:max:recipients", "const:max:storage", "const:sender:defer_times",
]

listed = expect("GET", "/settings", 200)["settings"]
assert [s["key"] for s in listed] == KEYS, listed
for setting in listed:
    assert setting["custom"] is False and setting["value"] == setting["default"], setting
    assert setting["name"] and setting["description"] and setting["type"], setting
by_key = {s["key"]: s for s in listed}
assert by_key["const:max:recipients"]["value"] == 2000, by_key  # the store's configured limit
assert by_key["const:autoreply:interval"]["value"] == 4 * 3600 * 1000, by_key
assert by_key["const:max:filters"]["value"] == 400 and by_key["const:max:rcpt_to"]["value"] == 400
filtered = expect("GET", "/settings?filter=MAX:R", 200)
assert filtered["filter"] == "MAX:R", filtered
assert [s["key"] for s in filtered["settings"]] == ["const:max:rcpt_to", "const:max:recipients"], filtered

lena = create_user("lena")
token = user_token("lena")
expect("GET", "/settings", 403, "MissingPrivileges", token=token)
expect("POST", "/settings/const:max:recipients", 403, "MissingPrivileges", token=token, body={"value": 1})

# Checked by type; nothing stored on a refusal.
refused = expect("POST", "/settings/const:nothing", 400, "InputValidationError", body={"value": 1})
assert "key" in refused["details"] and "const:max:rcpt_to" in refused["error"], refused
for key, value in [("const:max:recipients", "many"), ("const:max:recipients", True),
                   ("const:domaincache:enabled", 3), ("const:sender:defer_times", "5m,,1h")]:
    refused = expect("POST", f"/settings/{key}", 400, "InputValidationError", body={"value": value})
    assert "value" in refused["details"], refused
expect("POST", "/settings/const:max:recipients", 400, "InputValidationError", body={})
assert expect("GET", "/settings/const:max:recipients", 200)["value"] == 2000

# Set (numbers also as text), shown as custom, and read by the rules.
assert expect("POST", "/settings/const:max:recipients", 200, body={"value": "3"})["key"] == "const:max:recipients"
got = expect("GET", "/settings/const:max:recipients", 200)
assert got == {"success": True, "key": "const:max:recipients", "value": 3}, got
row = [s for s in expect("GET", "/settings", 200)["settings"] if s["key"] == "const:max:recipients"][0]
assert row["custom"] is True and row["value"] == 3 and row["default"] == 2000, row
assert expect("GET", f"/users/{lena}", 200)["limits"]["recipients"]["allowed"] == 3
expect("PUT", f"/users/{lena}", 200, body={"recipients": 9})  # the user's own number wins
assert expect("GET", f"/users/{lena}", 200)["limits"]["recipients"]["allowed"] == 9

expect("POST", "/settings/const:max:filters", 200, body={"value": 1})
expect("POST", f"/users/{lena}/filters", 200, body={"query": {"from": "a"}, "action": {"seen": True}})
expect("POST", f"/users/{lena}/filters", 403, "TooMany", body={"query": {"from": "b"}, "action": {"seen": True}})

expect("POST", "/settings/const:sender:defer_times", 200, body={"value": " 5m, 1h "})
assert expect("GET", "/settings/const:sender:defer_times", 200)["value"] == "5m, 1h"
expect("POST", "/settings/const:domaincache:enabled", 200, body={"value": True})
assert expect("GET", "/settings/const:domaincache:enabled", 200)["value"] is True

# An unknown key reads as WildDuck answers it: 200, success false.
status_body = call("GET", "/settings/const:nothing")
assert status_body == (200, {"success": False, "key": "const:nothing", "error": "Key was not found"}), status_body
