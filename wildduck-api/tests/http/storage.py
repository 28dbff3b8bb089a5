"""Stored files: upload (base64 and plain), listing with paging and `query`, download byte
for byte, delete, every error case, and a user token kept to its own files."""

import base64
import urllib.error
import urllib.request

from client import BASE, MISSING, ROOT, create_user, expect, user_token


def fetch_bytes(path, token=ROOT):
    request = urllib.request.Request(BASE + path, headers={"X-Access-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


alice = create_user("alice", "alice@example.com")
bob = create_user("bob", "bob@example.com")
token = user_token("alice")
files = f"/users/{alice}/storage"
gif = bytes(range(256)) * 40

first = expect("POST", files, 200, body={
    "filename": "logo.gif", "encoding": "base64", "content": base64.b64encode(gif).decode(), "cid": "logo@x"})["id"]
status, kind, body = fetch_bytes(f"{files}/{first}")
assert status == 200 and kind == "image/gif" and body == gif, (status, kind, len(body))
second = expect("POST", files, 200, body={"contentType": "text/plain", "content": "plain text, not encoded"})["id"]
status, kind, body = fetch_bytes(f"{files}/{second}")
assert status == 200 and kind == "text/plain" and body == b"plain text, not encoded", (status, kind, body)

# 25 more, then pages of 10 both ways: no gaps, no repeats, sorted by filename.
for n in range(25):
    expect("POST", files, 200, body={"filename": f"part{n:02}.txt", "content": f"part {n}"})
listed = expect("GET", files, 200)
assert listed["total"] == 27 and len(listed["results"]) == 20, listed["total"]
row = next(r for r in listed["results"] if r["id"] == first)
assert row["filename"] == "logo.gif" and row["size"] == len(gif) and row["cid"] == "logo@x", row
assert len(row["md5"]) == 32 and row["created"].endswith("Z"), row
seen, cursor, pages = [], None, []
while True:
    page = expect("GET", f"{files}?limit=10" + (f"&next={cursor}" if cursor else ""), 200)
    pages.append(page)
    seen += [r["filename"] for r in page["results"]]
    cursor = page["nextCursor"]
    if not cursor:
        break
assert seen == sorted(seen) and len(seen) == len(set(seen)) == 27, seen
back = expect("GET", f"{files}?limit=10&previous={pages[2]['previousCursor']}", 200)
assert back["results"] == pages[1]["results"]
found = expect("GET", f"{files}?query=part1", 200)
assert [r["filename"] for r in found["results"]] == [f"part{n}" + ".txt" for n in range(10, 20)], found

# Errors: WildDuck's codes, nothing stored.
expect("POST", files, 400, "InputValidationError", body={"filename": "x.gif", "encoding": "base64"})
expect("POST", files, 400, "InputValidationError", body={"content": "x", "encoding": "hex"})
expect("POST", files, 400, "InputValidationError", body={"content": "x", "filename": "n" * 256})
expect("POST", "/users/123/storage", 400, "InputValidationError", body={"content": "x"})
expect("POST", f"/users/{MISSING}/storage", 404, "UserNotFound", body={"content": "x"})
expect("GET", f"/users/{MISSING}/storage", 404, "UserNotFound")
expect("GET", f"{files}?limit=1000", 400, "InputValidationError")
expect("GET", f"{files}?next=zz", 400, "InputValidationError")
expect("GET", f"{files}/123", 400, "InputValidationError")
expect("GET", f"{files}/{MISSING}", 404, "FileNotFound")
expect("GET", f"{files}/..%2F..%2Fetc%2Fpasswd", 400, "InputValidationError")
expect("DELETE", f"{files}/{first[::-1]}", 404, "FileNotFound")
assert expect("GET", files, 200)["total"] == 27

# Another user's file is unknown under this user; a user token reaches only its own.
bobs = expect("POST", f"/users/{bob}/storage", 200, body={"filename": "bob.txt", "content": "bob's"})["id"]
expect("GET", f"{files}/{bobs}", 404, "FileNotFound")
expect("DELETE", f"{files}/{bobs}", 404, "FileNotFound")
for method, path, body in [
    ("GET", f"/users/{bob}/storage", None),
    ("POST", f"/users/{bob}/storage", {"content": "x"}),
    ("GET", f"/users/{bob}/storage/{bobs}", None),
    ("DELETE", f"/users/{bob}/storage/{bobs}", None),
]:
    expect(method, path, 403, "MissingPrivileges", token=token, body=body)
status, _, _ = fetch_bytes(f"/users/{bob}/storage/{bobs}", token=token)
assert status == 403, status
assert expect("GET", "/users/me/storage", 200, token=token)["total"] == 27
status, _, body = fetch_bytes(f"/users/me/storage/{first}", token=token)
assert status == 200 and body == gif
expect("DELETE", f"/users/me/storage/{first}", 200, token=token)
expect("GET", f"{files}/{first}", 404, "FileNotFound")
status, _, body = fetch_bytes(f"/users/{bob}/storage/{bobs}")
assert status == 200 and body == b"bob's", (status, body)
print("storage: ok")
