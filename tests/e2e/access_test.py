#!/usr/bin/env python3
"""Every role against every API route, sessions, CSRF, logout, wrong, expired, removed and
renewed tokens, the users file, the audit trail and the security headers (docs/console.md).

Run by tests/e2e/test_access.sh against a Ferry instance of its own. Environment:
  FERRY_URL     the coordinator's address
  ADMIN_TOKEN   the bootstrap admin's token (FERRY_COORDINATOR_TOKEN)
  FILE_TOKEN    the token of "dash", a viewer of the users file
  FERRYCTL      the ferryctl binary
Exits 1 when any check fails; prints one line per check.
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

URL = os.environ["FERRY_URL"].rstrip("/")
ADMIN = os.environ["ADMIN_TOKEN"]
FILE_TOKEN = os.environ["FILE_TOKEN"]
FERRYCTL = os.environ["FERRYCTL"]
failures = 0
secrets = [ADMIN, FILE_TOKEN]


def check(what, ok, detail=""):
    global failures
    print(f"  {'ok  ' if ok else 'FAIL'}  {what}" + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        failures += 1


def call(method, path, body=None, token=None, cookie=None, csrf=None, raw=None):
    """(status, headers, parsed JSON or text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    if cookie is not None:
        req.add_header("Cookie", "ferry_session=" + cookie)
    if csrf is not None:
        req.add_header("X-CSRF-Token", csrf)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, headers, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, headers, text = e.code, e.headers, e.read().decode()
    try:
        return status, headers, json.loads(text)
    except ValueError:
        return status, headers, text


def code_of(answer):
    return answer.get("error", {}).get("code") if isinstance(answer, dict) else None


def new_user(name, role, apps=None, expires_at=None):
    body = {"name": name, "role": role}
    if apps:
        body["apps"] = apps
    if expires_at:
        body["expires_at"] = expires_at
    status, _, answer = call("POST", "/v1/users", body, token=ADMIN)
    check(f"admin adds {role} {name}", status == 201, f"{status} {answer}")
    token = answer.get("token", "")
    secrets.append(token)
    return token


print("== users")
OPERATOR = new_user("ops-shop", "operator", ["shop"])
VIEWER = new_user("watcher", "viewer")
ADMIN2 = new_user("second-admin", "admin")
status, _, answer = call("POST", "/v1/users", {"name": "watcher", "role": "viewer"}, token=ADMIN)
check("a second user of the same name is refused", status == 409, f"{status} {answer}")
status, _, answer = call("POST", "/v1/users", {"name": "Bad Name", "role": "viewer"}, token=ADMIN)
check("a bad user is refused with the field named",
      status == 400 and "$.name" in json.dumps(answer), f"{status} {answer}")
status, _, answer = call("POST", "/v1/users", {"name": "x", "role": "operator"}, token=ADMIN)
check("an operator without apps is refused", status == 400 and "apps" in json.dumps(answer),
      f"{status} {answer}")
status, _, answer = call("GET", "/v1/users", token=ADMIN)
names = {u["name"]: u for u in answer.get("users", [])} if status == 200 else {}
check("the users list has the file's, the bootstrap and the API's users",
      {"admin", "dash", "ops-shop", "watcher", "second-admin"} <= set(names), f"{answer}")
check("the users list never shows a hash or token",
      "argon2" not in json.dumps(answer) and "token" not in json.dumps(answer), f"{answer}")
check("each user says where it comes from",
      names.get("dash", {}).get("source") == "file"
      and names.get("admin", {}).get("source") == "bootstrap"
      and names.get("watcher", {}).get("source") == "api", f"{names}")

# Every route, with who may run it. Bodies that reach a handler fail there on purpose (no such
# app, a bad spec), so nothing in this instance changes: what is checked is whether the request
# got past authentication and the role check (401 and 403 are the only refusals of access).
ROUTES = [
    ("GET", "/v1/session", None, "user"),
    ("GET", "/v1/apps", None, "user"),
    ("GET", "/v1/apps/shop", None, "user"),
    ("GET", "/v1/apps/shop/steps", None, "user"),
    ("GET", "/v1/migrations", None, "user"),
    ("GET", "/v1/migrations/shop.production", None, "user"),
    ("GET", "/v1/migrations/shop.production/history", None, "user"),
    ("GET", "/v1/workers", None, "user"),
    ("GET", "/v1/dead-letters", None, "user"),
    ("GET", "/v1/audit", None, "user"),
    ("GET", "/v1/audit?app=shop", None, "user"),
    ("GET", "/metrics", None, "user"),
    ("POST", "/v1/apps", {"app": "shop"}, "admin"),
    ("DELETE", "/v1/apps/shop", None, "admin"),
    ("POST", "/v1/dead-letters/1-0/replay", None, "admin"),
    ("GET", "/v1/users", None, "admin"),
    ("POST", "/v1/users", {"name": "nobody-new", "role": "bogus"}, "admin"),
    ("DELETE", "/v1/users/nobody-new", None, "admin"),
    ("POST", "/v1/users/nobody-new/token", None, "admin"),
]
for verb in ["replicate", "stop", "test-start", "test-stop", "migrate", "rollback", "replay"]:
    ROUTES.append(("POST", f"/v1/apps/shop/{verb}", {}, "shop"))
    ROUTES.append(("POST", f"/v1/apps/crm/{verb}", {}, "crm"))
ROUTES.append(("POST", "/v1/apps/shop/stop", {"interrupt": True}, "shop"))

ROLES = {
    "bootstrap admin": (ADMIN, {"user", "admin", "shop", "crm"}),
    "API admin": (ADMIN2, {"user", "admin", "shop", "crm"}),
    "operator of shop": (OPERATOR, {"user", "shop"}),
    "viewer": (VIEWER, {"user"}),
    "file viewer": (FILE_TOKEN, {"user"}),
}

print("== every role against every route")
for role, (token, may) in ROLES.items():
    wrong = []
    for method, path, body, need in ROUTES:
        status, _, answer = call(method, path, body, token=token)
        allowed = need in may
        if allowed and status in (401, 403):
            wrong.append(f"{method} {path}: refused {status} {answer}")
        if not allowed and (status != 403 or code_of(answer) != "forbidden"):
            wrong.append(f"{method} {path}: expected 403 forbidden, got {status} {answer}")
    check(f"{role}: {len(ROUTES)} routes allowed and refused as its role says", not wrong,
          "; ".join(wrong[:5]))
status, _, answer = call("POST", "/v1/apps/crm/migrate", {}, token=OPERATOR)
check("a refusal names the user, its role and what it may not do",
      "ops-shop (operator of shop) may not migrate crm" in json.dumps(answer), f"{answer}")

print("== no credentials, wrong tokens")
for who, token in [("no token", None), ("a wrong token", ADMIN + "x"),
                   ("a wrong secret", OPERATOR[:-1] + ("A" if OPERATOR[-1] != "A" else "B")),
                   ("an unknown user", "fy1.nobody." + "A" * 43)]:
    wrong = []
    for method, path, body, need in ROUTES:
        status, _, answer = call(method, path, body, token=token)
        if status != 401 or code_of(answer) != "unauthorized":
            wrong.append(f"{method} {path}: {status} {answer}")
    check(f"{who}: every route but the open ones answers 401", not wrong, "; ".join(wrong[:3]))
for method, path in [("GET", "/v1/health"), ("GET", "/"), ("GET", "/ui/app.js")]:
    status, _, _ = call(method, path)
    check(f"{method} {path} needs no token", status in (200, 503), f"{status}")

print("== expiry, removal, a new token")
soon = int(time.time() * 1000) + 4000
TEMP = new_user("temp", "viewer", expires_at=soon)
status, _, _ = call("GET", "/v1/apps", token=TEMP)
check("a token before its expiry works", status == 200, f"{status}")
time.sleep(max(0.0, (soon - time.time() * 1000) / 1000) + 0.5)
status, _, answer = call("GET", "/v1/apps", token=TEMP)
check("an expired token is refused, and says so",
      status == 401 and "expired" in json.dumps(answer), f"{status} {answer}")
status, _, answer = call("POST", "/v1/session", {"token": TEMP})
check("an expired token cannot log in", status == 401 and "expired" in json.dumps(answer),
      f"{status} {answer}")
GONE = new_user("gone", "viewer")
status, _, _ = call("GET", "/v1/apps", token=GONE)
check("a new user's token works at once", status == 200, f"{status}")
status, _, answer = call("DELETE", "/v1/users/gone", token=ADMIN)
check("admin removes a user", status == 200, f"{status} {answer}")
status, _, _ = call("GET", "/v1/apps", token=GONE)
check("a removed user's token is refused", status == 401, f"{status}")
status, _, answer = call("POST", "/v1/users/watcher/token", token=ADMIN)
NEW_VIEWER = answer.get("token", "")
secrets.append(NEW_VIEWER)
check("admin gives a user a new token", status == 200 and NEW_VIEWER.startswith("fy1.watcher."),
      f"{status} {answer}")
status, _, _ = call("GET", "/v1/apps", token=VIEWER)
check("the old token stops working", status == 401, f"{status}")
status, _, _ = call("GET", "/v1/apps", token=NEW_VIEWER)
check("the new token works", status == 200, f"{status}")
status, _, answer = call("DELETE", "/v1/users/dash", token=ADMIN)
check("a user of the users file cannot be removed through the API",
      status == 409 and "users file" in json.dumps(answer), f"{status} {answer}")

print("== sessions and CSRF")
status, headers, answer = call("POST", "/v1/session", {"token": ADMIN + "x"})
check("a wrong token cannot log in", status == 401 and headers.get("Set-Cookie") is None,
      f"{status} {answer}")
status, headers, login = call("POST", "/v1/session", {"token": OPERATOR})
set_cookie = headers.get("Set-Cookie", "")
check("logging in sets an HttpOnly, SameSite=Strict session cookie",
      status == 200 and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
      and "Path=/" in set_cookie, f"{status} {set_cookie}")
cookie = set_cookie.split(";")[0].split("=", 1)[1] if "=" in set_cookie else ""
csrf = login.get("csrf", "") if isinstance(login, dict) else ""
check("the login's answer names the user and carries a CSRF token",
      login.get("user") == "ops-shop" and login.get("role") == "operator" and len(csrf) >= 40,
      f"{login}")
status, _, answer = call("GET", "/v1/migrations", cookie=cookie)
check("the session reads without a token", status == 200, f"{status} {answer}")
status, _, answer = call("GET", "/v1/session", cookie=cookie)
check("GET /v1/session gives the page its CSRF token again",
      status == 200 and answer.get("csrf") == csrf and answer.get("via") == "session",
      f"{answer}")
status, _, answer = call("POST", "/v1/apps/shop/replicate", {}, cookie=cookie)
check("a change from the session without the CSRF token is refused",
      status == 403 and code_of(answer) == "csrf", f"{status} {answer}")
status, _, answer = call("POST", "/v1/apps/shop/replicate", {}, cookie=cookie, csrf="x" * 43)
check("... and with a wrong one", status == 403 and code_of(answer) == "csrf",
      f"{status} {answer}")
status, _, answer = call("POST", "/v1/apps/shop/replicate", {}, cookie=cookie, csrf=csrf)
check("with its CSRF token the session's change goes through (no app: 404)",
      status == 404, f"{status} {answer}")
status, _, answer = call("POST", "/v1/apps/crm/replicate", {}, cookie=cookie, csrf=csrf)
check("the session keeps its user's role", status == 403 and code_of(answer) == "forbidden",
      f"{status} {answer}")
status, _, answer = call("POST", "/v1/apps/shop/replicate", {}, token=OPERATOR, cookie="bogus")
check("a bearer token needs no CSRF token (and counts before a cookie)", status == 404,
      f"{status} {answer}")
status, _, answer = call("DELETE", "/v1/session", cookie=cookie)
check("logout needs the CSRF token too", status == 403, f"{status} {answer}")
status, headers, answer = call("DELETE", "/v1/session", cookie=cookie, csrf=csrf)
check("logout ends the session and clears the cookie",
      status == 200 and "Max-Age=0" in headers.get("Set-Cookie", ""), f"{status} {answer}")
status, _, answer = call("GET", "/v1/migrations", cookie=cookie)
check("the old session cookie is refused after logout", status == 401, f"{status} {answer}")
status, headers, _ = call("POST", "/v1/session", {"token": NEW_VIEWER})
vc = headers.get("Set-Cookie", "").split(";")[0].split("=", 1)[-1]
call("POST", "/v1/users/watcher/token", token=ADMIN)
status, _, answer = call("GET", "/v1/apps", cookie=vc)
check("a session ends when its user gets a new token", status == 401, f"{status} {answer}")
status, _, login = call("POST", "/v1/session", {"token": FILE_TOKEN})
check("the file's user logs in", status == 200 and login.get("user") == "dash", f"{login}")

print("== headers")
for path, token in [("/", None), ("/v1/apps", ADMIN), ("/v1/apps", None)]:
    _, headers, _ = call("GET", path, token=token)
    csp = headers.get("Content-Security-Policy", "")
    check(f"GET {path}: security headers",
          "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
          and "script-src 'self'" in csp and "unsafe-inline" not in csp
          and headers.get("X-Frame-Options") == "DENY"
          and headers.get("X-Content-Type-Options") == "nosniff", f"{dict(headers)}")

print("== the audit trail")
status, _, answer = call("GET", "/v1/audit?app=crm&count=1000", token=ADMIN)
entries = answer.get("audit", []) if status == 200 else []
refused = [e for e in entries if e["user"] == "ops-shop" and e["action"] == "migrate"
           and e["status"] == 403]
check("a refused command is in the audit trail with who, what, from where and how it ended",
      bool(refused) and refused[0]["from"] == "127.0.0.1" and refused[0]["role"] == "operator"
      and refused[0]["app"] == "crm" and "may not migrate" in (refused[0]["outcome"] or "")
      and refused[0]["at"] > 0, f"{entries[-3:]}")
check("an app's audit trail holds only that app's entries",
      entries and all(e["app"] == "crm" for e in entries), f"{entries[:2]}")
status, _, answer = call("GET", "/v1/audit?count=10000", token=ADMIN)
everything = json.dumps(answer)
check("logins, logouts and user changes are in the audit trail",
      all(f'"action": "{a}"' in everything for a in ["login", "logout", "add-user",
                                                       "remove-user", "new-token"]),
      everything[-500:])
check("failed authentications are in the audit trail",
      '"status": 401' in everything and '"user": "-"' in everything, "")
check("no token appears in the audit trail", not any(s and s in everything for s in secrets), "")
for method in ["DELETE", "POST", "PUT"]:
    status, _, _ = call(method, "/v1/audit", token=ADMIN)
    check(f"{method} /v1/audit deletes nothing (no such route)", status in (404, 405),
          f"{status}")
status, _, answer = call("GET", "/v1/audit?count=10000", token=ADMIN)
check("the audit trail only grew", len(answer.get("audit", [])) >= len(json.loads(everything)["audit"]),
      "")

print("== ferryctl with a token of each role")
for role, token in [("viewer", FILE_TOKEN), ("operator", OPERATOR)]:
    env = dict(os.environ, FERRY_COORDINATOR_URL=URL, FERRY_COORDINATOR_TOKEN=token)
    env.pop("FERRY_COORDINATOR_TOKEN_FILE", None)
    r = subprocess.run([FERRYCTL, "status"], env=env, capture_output=True, text=True)
    check(f"ferryctl status works with a {role}'s token", r.returncode == 0, r.stderr)
    r = subprocess.run([FERRYCTL, "migrate", "crm"], env=env, capture_output=True, text=True)
    check(f"ferryctl migrate crm is refused for a {role}, with why",
          r.returncode != 0 and "may not migrate crm" in r.stderr, r.stderr + r.stdout)

print("== secrets")
logs = os.environ.get("FERRY_LOGS", "")
text = ""
for name in os.listdir(logs) if logs else []:
    with open(os.path.join(logs, name), errors="replace") as f:
        text += f.read()
check("no token appears in any log", bool(text) and not any(s and s in text for s in secrets), "")

print(f"access: {failures} failure(s)")
sys.exit(1 if failures else 0)
