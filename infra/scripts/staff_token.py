"""Signs the demo owner `make dev` made (.local/demo-owner.json) in to the local shop: the
one-time password and a TOTP code from its secret, then a new password of its own, as the first
sign-in must. Prints the staff token, for the fuzzer's admin pass. Standard library only."""

import base64
import hashlib
import hmac
import json
import secrets
import struct
import sys
import time
import urllib.request


def totp(secret_base32: str, at: float) -> str:
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def post(base: str, path: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"}
        | ({"authorization": f"Bearer {token}"} if token else {}),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
        return json.loads(text) if text else {}


def main() -> None:
    base, owner_file = sys.argv[1], sys.argv[2]
    with open(owner_file, encoding="utf-8") as f:
        owner = json.load(f)
    signed = post(
        base,
        "/admin/v1/auth/sign-in",
        {
            "username": owner["username"],
            "password": owner["password"],
            "code": totp(owner["totpSecret"], time.time()),
        },
    )
    token = signed["token"]
    post(
        base,
        "/admin/v1/me/password",
        {"currentPassword": owner["password"], "newPassword": "Fuzz-" + secrets.token_urlsafe(18)},
        token,
    )
    print(token)


if __name__ == "__main__":
    main()
