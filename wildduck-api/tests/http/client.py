"""A small HTTP client over urllib for the route tests: every call returns (status, JSON)."""

import json
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1]
ROOT = sys.argv[2]


def call(method, path, body=None, token=ROOT, headers=None, raw=None):
    """One request; `token` goes in X-Access-Token (None sends none)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("X-Access-Token", token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def expect(method, path, status, code=None, **kwargs):
    """Calls and checks the status and, for errors, WildDuck's code and error text."""
    got, body = call(method, path, **kwargs)
    assert got == status, f"{method} {path}: {got} {body}, expected {status}"
    if code is not None:
        assert body.get("code") == code, f"{method} {path}: {body}, expected code {code}"
    if status >= 400:
        assert isinstance(body.get("error"), str) and body["error"], f"{method} {path}: {body}"
    else:
        assert body.get("success") is True, f"{method} {path}: {body}"
    return body


def create_user(username, address=None):
    fields = {"username": username, "password": "secret-" + username}
    if address:
        fields["address"] = address
    return expect("POST", "/users", 200, body=fields)["id"]


def user_token(username):
    return user_token_for(username, "secret-" + username)


def user_token_for(username, password):
    body = {"username": username, "password": password, "token": True}
    return expect("POST", "/authenticate", 200, body=body)["token"]


MISSING = "0" * 24
