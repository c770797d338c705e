"""Drives Roster's ZITADEL dialect with ZITADEL's official Python SDK (`zitadel-client`): create
a human with a numeric id of the caller's choosing, as ZITADEL's own ids are (its e-mail code
returned and verified; the id kept for every later call) and a machine user (a secret added), get, list
with queries, update, lock and unlock, deactivate and reactivate, metadata, delete, and the
`ApiError` for the deleted user.

Usage: python zitadel_sdk_flow.py BASE_URL TOKEN
BASE_URL is Roster's `/compat/zitadel`. Prints each step; exits 1 at the first surprise.
"""

import base64
import sys
import uuid

import zitadel_client as zc
from zitadel_client.exceptions import ApiError
from zitadel_client.models import (
    UserServiceCreateUserRequest,
    UserServiceDeactivateUserRequest,
    UserServiceDeleteUserRequest,
    UserServiceGetUserByIDRequest,
    UserServiceHuman,
    UserServiceListUsersRequest,
    UserServiceListUserMetadataRequest,
    UserServiceLockUserRequest,
    UserServiceMachine,
    UserServiceMetadata,
    UserServicePassword,
    UserServiceProfile,
    UserServiceReactivateUserRequest,
    UserServiceSearchQuery,
    UserServiceSetHumanEmail,
    UserServiceSetPassword,
    UserServiceSetUserMetadataRequest,
    UserServiceUnlockUserRequest,
    UserServiceUpdateUserRequest,
    UserServiceUserNameQuery,
    UserServiceVerifyEmailRequest,
    UserServiceTypeQuery,
)


def step(name, value):
    print(f"ok  {name}")
    return value


def check(condition, message):
    if not condition:
        print(f"FAIL {message}")
        sys.exit(1)


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    z = zc.Zitadel.with_access_token(base_url, token)
    users = z.users
    suffix = uuid.uuid4().hex[:8]
    chosen = str(10**17 + uuid.uuid4().int % (9 * 10**17))

    human = users.create_user(
        UserServiceCreateUserRequest(
            user_id=chosen,
            username=f"minnie-{suffix}",
            human=UserServiceHuman(
                profile=UserServiceProfile(given_name="Minnie", family_name="Mouse", display_name="Minnie Mouse"),
                email=UserServiceSetHumanEmail(email=f"minnie-{suffix}@example.com", return_code={}),
                password=UserServiceSetPassword(password=UserServicePassword(password="Secr3t-password!", change_required=False)),
            ),
        )
    )
    step("CreateUser (human) with a numeric userId, the e-mail code returned", human)
    uid = human.id
    check(uid == chosen, f"the chosen id is the user's id: {uid} != {chosen}")
    check(human.email_code and len(human.email_code) == 6, f"an e-mail code: {human}")
    users.verify_email(UserServiceVerifyEmailRequest(user_id=uid, verification_code=human.email_code))
    step("VerifyEmail with the returned code", None)
    machine = users.create_user(
        UserServiceCreateUserRequest(username=f"robot-{suffix}", machine=UserServiceMachine(name="robot", description="builds"))
    )
    step("CreateUser (machine)", machine)
    secret = users.add_secret(zc.models.UserServiceAddSecretRequest(user_id=machine.id))
    check(len(secret.client_secret) > 20, "a client secret")
    step("AddSecret", None)

    got = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=uid))
    check(got.user.human.profile.given_name == "Minnie", f"given name: {got.user.human.profile}")
    check(got.user.human.email.is_verified is True, "email verified")
    step("GetUserByID", got)

    listed = users.list_users(
        UserServiceListUsersRequest(
            queries=[
                UserServiceSearchQuery(user_name_query=UserServiceUserNameQuery(user_name=f"minnie-{suffix}", method="TEXT_QUERY_METHOD_EQUALS")),
                UserServiceSearchQuery(type_query=UserServiceTypeQuery(type="TYPE_HUMAN")),
            ]
        )
    )
    check(len(listed.result) == 1 and listed.result[0].user_id == uid, f"list: {listed}")
    step("ListUsers", listed)

    users.update_user(UserServiceUpdateUserRequest(user_id=uid, human=UserServiceHuman(profile=UserServiceProfile(given_name="Minerva"))))
    updated = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=uid)).user.human.profile
    check((updated.given_name, updated.family_name) == ("Minerva", "Mouse"), f"after update: {updated}")
    step("UpdateUser", updated)

    users.lock_user(UserServiceLockUserRequest(user_id=uid))
    users.unlock_user(UserServiceUnlockUserRequest(user_id=uid))
    step("LockUser, UnlockUser", None)
    users.deactivate_user(UserServiceDeactivateUserRequest(user_id=uid))
    state = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=uid)).user.state
    check(str(state).endswith("USER_STATE_INACTIVE"), f"state after deactivate: {state}")
    users.reactivate_user(UserServiceReactivateUserRequest(user_id=uid))
    step("DeactivateUser, ReactivateUser", None)

    value = base64.b64encode(b"gold").decode()
    users.set_user_metadata(UserServiceSetUserMetadataRequest(user_id=uid, metadata=[UserServiceMetadata(key="tier", value=value)]))
    meta = users.list_user_metadata(UserServiceListUserMetadataRequest(user_id=uid))
    check([(m.key, m.value) for m in meta.metadata] == [("tier", value)], f"metadata: {meta}")
    step("SetUserMetadata, ListUserMetadata", meta)

    users.delete_user(UserServiceDeleteUserRequest(user_id=uid))
    step("DeleteUser", None)
    try:
        users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=uid))
        check(False, "a deleted user was found")
    except ApiError as e:
        check(e.code == 404, f"deleted user: {e.code}")
        step("GetUserByID of a deleted user: ApiError 404", e.code)
    print("zitadel-client flow: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
