"""Drives Roster with the investment platform's own request-signing helper
(`upvest-investment-api[requests-auth]`, `UpvestRequestsAuth`), unchanged: a token holding a
P-521 public key is the OAuth2 client; the helper fetches an access token from `/auth/token`
(signed), then signs every request (HTTP Message Signatures with `content-digest`) and sends
idempotency keys — to the native API, then to the platform's dialect at `/compat/upvest` with
the platform's scope names. A second key that Roster does not know is refused.

Usage: python upvest_helper_flow.py ROSTER_URL ADMIN_TOKEN
ROSTER_URL is the server's root (`http://127.0.0.1:PORT`). Prints each step; exits 1 at the
first surprise.
"""

import sys
import uuid

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from upvest_investment_api.requests_auth import AuthorisationError, UpvestRequestsAuth

PASSPHRASE = b"helper flow"
SCOPES = ["users:read", "users:write"]


def step(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}".rstrip())
    if not ok:
        sys.exit(1)


def key_pair():
    key = ec.generate_private_key(ec.SECP521R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def helper(private, client_id, secret, scopes=SCOPES):
    return UpvestRequestsAuth(
        private_key_pem=private,
        private_key_passphrase=PASSPHRASE,
        key_id=str(uuid.uuid4()),
        client_id=client_id,
        client_secret=secret,
        scopes=scopes,
    )


def main(base, admin):
    private, public = key_pair()
    made = requests.post(
        f"{base}/v1/tokens",
        headers={"authorization": f"Bearer {admin}"},
        json={"name": "signing helper", "scopes": SCOPES, "public_key": public},
    )
    step("a token holding the public key", made.status_code == 201, made.text)
    client_id, secret = made.json()["id"], made.json()["token"]
    auth = helper(private, client_id, secret)

    listed = requests.get(f"{base}/v1/users", params={"limit": 5}, auth=auth)
    step("token request and a signed list", listed.status_code == 200, listed.text)

    key = str(uuid.uuid4())
    body = {"username": "helper-made", "emails": [{"value": "helper-made@example.com"}]}
    created = requests.post(f"{base}/v1/users", json=body, auth=auth.with_idempotency_key(key))
    step("a signed create with an idempotency key", created.status_code == 201, created.text)
    again = requests.post(f"{base}/v1/users", json=body, auth=auth.with_idempotency_key(key))
    step(
        "the same key replays the first answer",
        again.status_code == 201 and again.json()["id"] == created.json()["id"],
        again.text,
    )
    user = created.json()["id"]
    patched = requests.patch(
        f"{base}/v1/users/{user}",
        json={"name": {"given": "Helper"}},
        headers={"content-type": "application/merge-patch+json"},
        auth=auth,
    )
    step("a signed merge patch", patched.status_code == 200, patched.text)
    deleted = requests.delete(f"{base}/v1/users/{user}", auth=auth)
    step("a signed delete", deleted.status_code == 204, deleted.text)

    unsigned = requests.get(
        f"{base}/v1/users", headers={"authorization": auth.auth_token and
                                     f"Bearer {auth.auth_token['access_token']}"}
    )
    step("the access token unsigned is refused", unsigned.status_code == 401, unsigned.text)

    stranger, _ = key_pair()
    try:
        requests.get(f"{base}/v1/users", auth=helper(stranger, client_id, secret))
        step("a key Roster does not know is refused", False)
    except AuthorisationError as e:
        step("a key Roster does not know is refused", e.response.status_code == 401)

    # The dialect, as an application written for the platform calls it.
    auth = helper(private, client_id, secret, ["users:read", "users:admin"])
    api = f"{base}/compat/upvest"
    karl = {
        "first_name": "Karl", "last_name": "Schmidt", "salutation": "SALUTATION_MALE",
        "birth_date": "1972-09-30", "nationalities": ["DE"],
        "address": {"address_line1": "Rosenweg 221", "postcode": "45678", "city": "Berlin",
                    "country": "DE"},
    }
    key = str(uuid.uuid4())
    made = requests.post(f"{api}/users", json=karl, auth=auth.with_idempotency_key(key))
    step("the dialect creates a user", made.status_code == 200 and made.json()["status"] == "ACTIVE",
         made.text)
    replay = requests.post(f"{api}/users", json=karl, auth=auth.with_idempotency_key(key))
    step("the idempotency key replays it", replay.json().get("id") == made.json()["id"], replay.text)
    user = made.json()["id"]
    listed = requests.get(f"{api}/users", params={"sort": "updated_at", "order": "DESC"}, auth=auth)
    step("the dialect lists users",
         listed.status_code == 200 and listed.json()["meta"]["total_count"] >= 1, listed.text)
    got = requests.get(f"{api}/users/{user}", auth=auth)
    step("the dialect reads the user", got.json().get("first_name") == "Karl", got.text)
    change = requests.post(f"{api}/users/{user}/data_change_requests", json={"last_name": "Schmitt"},
                           auth=auth)
    step("a data change is accepted", change.status_code == 202, change.text)
    gone = requests.delete(f"{api}/users/{user}", auth=auth)
    step("offboarding starts", gone.status_code == 202, gone.text)

    print("upvest helper flow: all steps passed")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2])
