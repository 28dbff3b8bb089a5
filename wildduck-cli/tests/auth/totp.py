"""TOTP two-factor authentication through the API, with codes from pyotp as an authenticator
app makes them, and what it does to IMAP logins (imaplib).

Usage: totp.py HOST IMAP_PORT API_BASE ROOT_TOKEN USER_ID USERNAME PASSWORD

Prints one JSON object on the last line: every secret the run used (seed, codes, ASP), so the
caller can look for them in the server's log. Exits non-zero on the first unexpected answer.
"""

import base64
import imaplib
import json
import sys
import time
import urllib.error
import urllib.request

import pyotp

host, imap_port, api, root, user, username, password = sys.argv[1:8]
imap_port = int(imap_port)
secrets = {"password": password, "codes": []}


def call(method, path, body=None):
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(api + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Access-Token", root)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def expect(what, answer, status, code=None):
    got_status, body = answer
    if got_status != status or (code is not None and body.get("code") != code):
        sys.exit(f"{what}: expected {status} {code or ''}, got {got_status} {body}")
    print(f"ok  {what}: {got_status} {body.get('code', '')}")
    return body


def imap_login(secret):
    client = imaplib.IMAP4(host, imap_port, timeout=30)
    try:
        client.login(username, secret)
        client.logout()
        return True
    except imaplib.IMAP4.error:
        client.shutdown()
        return False


def code_at(totp, when):
    code = totp.at(when)
    secrets["codes"].append(code)
    return code


expect("check before setup", call("POST", f"/users/{user}/2fa/totp/check", {"token": "123456"}), 403, "InvalidToken")
body = expect("setup", call("POST", f"/users/{user}/2fa/totp/setup", {"issuer": "Test Mail"}), 200)
seed = body["seed"]
secrets["seed"] = seed
if not body["otpauthUrl"].startswith(f"otpauth://totp/Test%20Mail:{username}?secret={seed}"):
    sys.exit(f"unexpected otpauth URL {body['otpauthUrl']}")
qr_prefix = "data:image/svg+xml;base64,"
if not body["qrcode"].startswith(qr_prefix):
    sys.exit(f"the QR code is not an SVG data URL: {body['qrcode'][:60]}")
svg = base64.b64decode(body["qrcode"][len(qr_prefix):]).decode()
if not (svg.lstrip().startswith("<?xml") and "<svg" in svg and "<path" in svg):
    sys.exit(f"the QR code is not a drawn SVG: {svg[:200]}")
totp = pyotp.TOTP(seed)
now = time.time()
expect("setup needs an issuer", call("POST", f"/users/{user}/2fa/totp/setup", {}), 400, "InputValidationError")
expect("enable, malformed token", call("POST", f"/users/{user}/2fa/totp/enable", {"token": "12"}), 400, "InputValidationError")
expect("enable, out of the window", call("POST", f"/users/{user}/2fa/totp/enable", {"token": code_at(totp, now - 120)}), 400, "InvalidToken")
expect("enable", call("POST", f"/users/{user}/2fa/totp/enable", {"token": code_at(totp, now)}), 200)
expect("setup again while enabled", call("POST", f"/users/{user}/2fa/totp/setup", {"issuer": "x"}), 400, "TotpEnabled")

# Each code counts once, also the one that enabled; the next step's code (one step ahead, in
# the window) once; an older step's never.
expect("check, the enabling code replayed", call("POST", f"/users/{user}/2fa/totp/check", {"token": secrets["codes"][-1]}), 403, "InvalidToken")
next_code = code_at(totp, now + 30)
expect("check, next step", call("POST", f"/users/{user}/2fa/totp/check", {"token": next_code}), 200)
expect("check, next step replayed", call("POST", f"/users/{user}/2fa/totp/check", {"token": next_code}), 403, "InvalidToken")
expect("check, earlier step", call("POST", f"/users/{user}/2fa/totp/check", {"token": code_at(totp, now - 30)}), 403, "InvalidToken")
expect("check, out of the window", call("POST", f"/users/{user}/2fa/totp/check", {"token": code_at(totp, now + 120)}), 403, "InvalidToken")

# The password still opens the API, asking for the second factor; IMAP needs an ASP.
body = expect("authenticate master", call("POST", "/authenticate", {"username": username, "password": password}), 200)
if body["require2fa"] != ["totp"]:
    sys.exit(f"require2fa: {body}")
expect("authenticate imap", call("POST", "/authenticate", {"username": username, "password": password, "scope": "imap"}), 403, "AuthFailed")
if imap_login(password):
    sys.exit("IMAP accepted the account password with 2FA on")
body = expect("create an ASP", call("POST", f"/users/{user}/asps", {"description": "mail app", "scopes": ["imap"]}), 200)
secrets["asp"] = body["password"]
if not imap_login(body["password"]):
    sys.exit("IMAP refused the ASP")
print("ok  IMAP: password refused, ASP accepted")

expect("disable", call("DELETE", f"/users/{user}/2fa"), 200)
body = expect("authenticate master after disable", call("POST", "/authenticate", {"username": username, "password": password}), 200)
if body["require2fa"] is not False:
    sys.exit(f"require2fa after disable: {body}")
if not imap_login(password):
    sys.exit("IMAP refused the password after 2FA was disabled")
print("ok  IMAP: password accepted again")
print(json.dumps(secrets))
