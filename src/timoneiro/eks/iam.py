"""The service's IAM: its account (a 12-digit id), users with access keys, roles with trust policies,
customer managed policies, and the policies attached to or written into users and roles, kept in
DATA/iam.json (0600); temporary credentials are in sessions. The first start makes one user, `admin`, with
AdministratorAccess, whose keys `timoneiro eks serve` prints.

Records hold the members of IAM's shapes (User, Role, Policy: botocore's names), and the service's own
bookkeeping under keys starting with "_" (access keys, attached policy ARNs, inline policy documents), which
no response shape has. Names are unique case-blind, as IAM's, and found case-blind.

Files written before users had policies (users as {name, userId, accessKeyId, secretAccessKey}) are read
as users with that one access key, the admin user with AdministratorAccess, the others with no policy."""

from __future__ import annotations

import os
import secrets
import string
import time
from dataclasses import dataclass

import orjson

from timoneiro.eks import policy
from timoneiro.eks.errors import AwsError
from timoneiro.eks.keys import new_id, new_secret
from timoneiro.eks.managed_policies import ADMINISTRATOR_ACCESS, POLICIES
from timoneiro.eks.sessions import USER, Sessions
from timoneiro.files import write_private

FILE = "iam.json"
ADMIN = "admin"
MAX_ACCESS_KEYS = 2
ACTIVE = "Active"


@dataclass(frozen=True)
class Principal:
    """The caller a signature proved: its access key, and who it is (GetCallerIdentity's answer): a user
    (arn:aws:iam::ACCOUNT:user/NAME, AIDA...) or a role's session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/
    SESSION, AROA...:SESSION)."""

    access_key_id: str
    arn: str
    user_id: str
    account: str


@dataclass(frozen=True)
class AccessKey:
    """What checks a signature: the secret, and for temporary credentials the session token the request
    must carry and when they expire (epoch seconds)."""

    principal: Principal
    secret_access_key: str
    session_token: str | None = None
    expiration: float | None = None


def no_such_entity(message: str) -> AwsError:
    return AwsError("NoSuchEntity", message, 404)


def already_exists(message: str) -> AwsError:
    return AwsError("EntityAlreadyExists", message, 409)


def delete_conflict(message: str) -> AwsError:
    return AwsError("DeleteConflict", message, 409)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceeded", message, 409)


class IAM:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILE)
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                doc = orjson.loads(f.read())
            created = os.path.getmtime(self.path)
        else:
            doc = {"account": "".join(secrets.choice(string.digits[1:]) for _ in range(12)), "users": []}
            created = time.time()
        self.account: str = doc["account"]
        self.users: dict[str, dict] = {}
        for user in doc["users"]:
            user = user if "UserName" in user else self._upgraded(user, created)
            self.users[user["UserName"].lower()] = user
        self.roles: dict[str, dict] = {role["RoleName"].lower(): role for role in doc.get("roles", [])}
        self.policies: dict[str, dict] = {p["Arn"]: p for p in doc.get("policies", [])}  # customer managed
        self.sessions = Sessions(data_dir)
        if not self.users:
            self.create_user(ADMIN)
            self.users[ADMIN]["_attached"].append(ADMINISTRATOR_ACCESS)
            self.save()

    def _upgraded(self, old: dict, created: float) -> dict:
        user = self._new_user(old["name"], "/", created, old["userId"])
        user["_accessKeys"].append({"UserName": old["name"], "AccessKeyId": old["accessKeyId"],
                                    "SecretAccessKey": old["secretAccessKey"], "Status": ACTIVE,
                                    "CreateDate": created})
        if old["name"] == ADMIN:
            user["_attached"].append(ADMINISTRATOR_ACCESS)
        return user

    def save(self) -> None:
        doc = {"account": self.account, "users": list(self.users.values()), "roles": list(self.roles.values()),
               "policies": list(self.policies.values())}
        write_private(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))

    def arn(self, kind: str, name: str, path: str = "/") -> str:
        """arn:aws:iam::ACCOUNT:KIND/PATH/NAME (kind: user, role, policy)."""
        return f"arn:aws:iam::{self.account}:{kind}{path}{name}"

    # users and their keys

    def _new_user(self, name: str, path: str, created: float, user_id: str | None = None) -> dict:
        return {"UserName": name, "UserId": user_id or new_id("AIDA", 17), "Path": path,
                "Arn": self.arn("user", name, path), "CreateDate": created,
                "_accessKeys": [], "_attached": [], "_inline": {}}

    def _add(self, records: dict[str, dict], kind: str, record: dict, tags: list[dict] | None) -> dict:
        """Keep a new user or role (kind "User", "Role") under its name, unless one has it (case-blind)."""
        name = record[f"{kind}Name"]
        if name.lower() in records:
            raise already_exists(f"{kind} with name {name} already exists.")
        if tags:
            record["Tags"] = tags
        records[name.lower()] = record
        self.save()
        return record

    @staticmethod
    def _find(records: dict[str, dict], kind: str, name: str) -> dict:
        found = records.get(name.lower())
        if found is None:
            raise no_such_entity(f"The {kind} with name {name} cannot be found.")
        return found

    def add_user(self, name: str, path: str = "/", tags: list[dict] | None = None) -> dict:
        return self._add(self.users, "User", self._new_user(name, path, time.time()), tags)

    def user(self, name: str) -> dict:
        return self._find(self.users, "user", name)

    def add_access_key(self, user: dict) -> dict:
        """A new Active key pair (AKIA and 16 characters, a 40-character secret), two at most, as IAM."""
        if len(user["_accessKeys"]) >= MAX_ACCESS_KEYS:
            raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}")
        key = {"UserName": user["UserName"], "AccessKeyId": new_id("AKIA", 16), "SecretAccessKey": new_secret(),
               "Status": ACTIVE, "CreateDate": time.time()}
        user["_accessKeys"].append(key)
        self.save()
        return key

    def create_user(self, name: str) -> AccessKey:
        """A user with one new access key pair (and no policy: it may sign in to clusters that map it)."""
        user = self.add_user(name)
        return self._user_key(user, self.add_access_key(user))

    @property
    def admin(self) -> AccessKey:
        user = self.users[ADMIN]
        return self._user_key(user, user["_accessKeys"][0])

    def _user_key(self, user: dict, key: dict) -> AccessKey:
        return AccessKey(Principal(key["AccessKeyId"], user["Arn"], user["UserId"], self.account),
                         key["SecretAccessKey"])

    def lookup(self, access_key_id: str) -> AccessKey | None:
        """The credentials an access key id names, if they may sign: an Active user key, or temporary
        credentials (expired or not: the signature check tells)."""
        session = self.sessions.get(access_key_id)
        if session is not None:
            return AccessKey(Principal(access_key_id, session["Arn"], session["UserId"], self.account),
                             session["SecretAccessKey"], session["SessionToken"], session["Expiration"])
        for user in self.users.values():
            for key in user["_accessKeys"]:
                if key["AccessKeyId"] == access_key_id:
                    return self._user_key(user, key) if key["Status"] == ACTIVE else None
        return None

    # roles

    def add_role(self, name: str, trust: str, path: str = "/", description: str | None = None,
                 max_session: int = 3600, tags: list[dict] | None = None) -> dict:
        self.check_trust(trust)
        role = {"RoleName": name, "RoleId": new_id("AROA", 17), "Path": path, "Arn": self.arn("role", name, path),
                "CreateDate": time.time(), "AssumeRolePolicyDocument": trust, "Description": description,
                "MaxSessionDuration": max_session, "_attached": [], "_inline": {}}
        return self._add(self.roles, "Role", role, tags)

    def role(self, name: str) -> dict:
        return self._find(self.roles, "role", name)

    def role_by_arn(self, arn: str) -> dict | None:
        found = self.roles.get(arn.rpartition("/")[2].lower())
        return found if found is not None and found["Arn"] == arn else None

    def owns(self, arn: str) -> bool:
        """Whether an ARN is of this account (arn:aws:SERVICE:REGION:ACCOUNT:...)."""
        parts = arn.split(":")
        return len(parts) > 5 and parts[4] == self.account

    def trusts_service(self, role_arn: str, service: str) -> bool:
        """Whether the role exists and its trust policy lets the AWS service (e.g. eks.amazonaws.com) assume it."""
        role = self.role_by_arn(role_arn)
        return role is not None and policy.trusts_service(
            policy.parsed(role["AssumeRolePolicyDocument"], trust=True), service)

    def check_trust(self, document: str) -> policy.Policy:
        """A trust policy as IAM takes it (MalformedPolicyDocument otherwise): its users and roles in this
        account must exist."""
        return policy.parse(document, trust=True, known=self._exists)

    def _exists(self, arn: str) -> bool:
        if not self.owns(arn):
            return True  # another account's: IAM checks those there
        kind, _, name = arn.split(":", 5)[5].partition("/")
        entity = (self.users if kind == "user" else self.roles).get(name.rpartition("/")[2].lower())
        return entity is not None and entity["Arn"] == arn

    # policies

    def add_policy(self, name: str, document: str, path: str = "/", description: str | None = None,
                   tags: list[dict] | None = None) -> dict:
        """A customer managed policy (one version, v1)."""
        policy.parse(document)
        if any(p["PolicyName"].lower() == name.lower() for p in self.policies.values()):
            raise already_exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        now = time.time()
        record = {"PolicyName": name, "PolicyId": new_id("ANPA", 17), "Arn": self.arn("policy", name, path),
                  "Path": path, "DefaultVersionId": "v1", "IsAttachable": True, "Description": description,
                  "CreateDate": now, "UpdateDate": now, "_document": document}
        if tags:
            record["Tags"] = tags
        self.policies[record["Arn"]] = record
        self.save()
        return record

    @staticmethod
    def check_unattached(entity: dict) -> None:
        """DeleteConflict while a user or role has policies, as IAM refuses to delete it."""
        if entity["_attached"]:
            raise delete_conflict("Cannot delete entity, must detach all policies first.")
        if entity["_inline"]:
            raise delete_conflict("Cannot delete entity, must delete policies first.")

    def managed_policy(self, arn: str) -> tuple[dict, str] | None:
        """(the Policy shape's members, the document) of an AWS or customer managed policy."""
        aws = POLICIES.get(arn)
        if aws is not None:
            return aws.public, aws.document
        own = self.policies.get(arn)
        return (own, own["_document"]) if own is not None else None

    def attachment_count(self, arn: str) -> int:
        return sum(arn in entity["_attached"] for entity in (*self.users.values(), *self.roles.values()))

    # what a caller may do

    def identity_policies(self, principal: Principal) -> list[policy.Policy]:
        """The policies of the user or role behind a caller: attached and inline."""
        session = self.sessions.get(principal.access_key_id)
        kind, name = (session["_kind"], session["_name"]) if session else (USER, principal.arn.rpartition("/")[2])
        entity = (self.users if kind == USER else self.roles).get(name.lower())
        if entity is None:
            return []
        documents = [found[1] for found in map(self.managed_policy, entity["_attached"]) if found is not None]
        return [policy.parsed(text) for text in (*documents, *entity["_inline"].values())]

    def session_policies(self, principal: Principal) -> list[policy.Policy] | None:
        """The session policies that narrow temporary credentials, if they were given any."""
        session = self.sessions.get(principal.access_key_id)
        if session is None or not session["_policies"]:
            return None
        return [policy.parsed(text) for text in session["_policies"]]

    def session_of(self, principal: Principal) -> dict | None:
        return self.sessions.get(principal.access_key_id)
