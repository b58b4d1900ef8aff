"""IAM in the EKS-compatible service, through the real `aws` CLI and boto3: users, access keys, roles and
policies with IAM's shapes and errors; every EKS, Auto Scaling and IAM call authorized against the caller's
policies (explicit Deny over Allow over the implicit deny) with AWS's denial messages; STS AssumeRole's
temporary credentials, which sign API calls and EKS tokens as the role's session, and sign in to a cluster
through an access entry for the role."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from eks_testing import EksService
from test_eks_signin import next_token
from timoneiro.eks import policy
from timoneiro.eks.iam import IAM
from timoneiro.eks.managed_policies import ADMINISTRATOR_ACCESS

AWS_POLICY = "arn:aws:iam::aws:policy/"
ACCESS_POLICY = "arn:aws:eks::aws:cluster-access-policy/"
KUBECTL = shutil.which("kubectl")
READ_EKS = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["eks:List*", "eks:Describe*"], "Resource": "*"}]}
INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"


def trust(principal: dict | str, effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}]})


def statement(effect: str, action: str | list[str], resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action,
                                                                "Resource": resource}]})


def new_key(eks: EksService, name: str) -> dict[str, str]:
    """A new access key of user `name` (made if missing), as the `aws` CLI's environment has credentials."""
    iam = eks.client("iam")
    if name.lower() not in eks.eks.iam.users:
        iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def session_env(credentials: dict) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"]}


def client(eks: EksService, service: str, env: dict[str, str]):
    """A boto3 client signing with the credentials of an environment as new_key and session_env make it."""
    return eks.client(service, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"),
                      retries={"max_attempts": 1})


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def refused(eks: EksService, *args: str, env: dict[str, str] | None = None) -> str:
    """The `aws` CLI's error line for a call that must fail."""
    proc = eks.aws(*args, check=False, env=env)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr.strip()


def test_users_and_access_keys_as_iam_has_them(eks):
    account, iam = eks.eks.account, eks.client("iam")
    user = eks.aws_json("iam", "create-user", "--user-name", "jane")["User"]
    assert (user["UserName"], user["Path"], user["Arn"]) == ("jane", "/", f"arn:aws:iam::{account}:user/jane")
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    key = eks.aws_json("iam", "create-access-key", "--user-name", "jane")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40 and key["Status"] == "Active"

    assert error(iam.create_user, UserName="JANE") == ("EntityAlreadyExists", "User with name JANE already exists.")
    assert error(iam.get_user, UserName="joe") == ("NoSuchEntity", "The user with name joe cannot be found.")
    assert error(iam.create_user, UserName="jane doe") == (
        "ValidationError", "1 validation error detected: Value 'jane doe' at 'userName' failed to satisfy "
                           "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    assert iam.get_user()["User"]["UserName"] == "admin"  # the caller itself
    assert iam.get_user(UserName="Jane")["User"]["UserName"] == "jane"  # names are case-blind

    second = iam.create_access_key(UserName="jane")["AccessKey"]
    assert error(iam.create_access_key, UserName="jane") == (
        "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    listed = iam.list_access_keys(UserName="jane")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active"),
                                                                 (second["AccessKeyId"], "Active")]
    assert "SecretAccessKey" not in listed[0]
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["admin", "jane"]
    page = iam.list_users(MaxItems=1)
    assert page["IsTruncated"] and [u["UserName"] for u in iam.list_users(Marker=page["Marker"])["Users"]] == ["jane"]

    iam.attach_user_policy(UserName="jane", PolicyArn=AWS_POLICY + "ReadOnlyAccess")
    assert error(iam.delete_user, UserName="jane") == (
        "DeleteConflict", "Cannot delete entity, must detach all policies first.")
    iam.detach_user_policy(UserName="jane", PolicyArn=AWS_POLICY + "ReadOnlyAccess")
    assert error(iam.delete_user, UserName="jane") == (
        "DeleteConflict", "Cannot delete entity, must delete access keys first.")
    for key_id in (key["AccessKeyId"], second["AccessKeyId"]):
        iam.delete_access_key(UserName="jane", AccessKeyId=key_id)
    assert error(iam.delete_access_key, UserName="jane", AccessKeyId=second["AccessKeyId"]) == (
        "NoSuchEntity", f"The Access Key with id {second['AccessKeyId']} cannot be found.")
    iam.delete_user(UserName="jane")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["admin"]


def test_a_user_without_policies_is_denied_until_a_policy_allows(eks):
    account, jane = eks.eks.account, new_key(eks, "jane")
    assert refused(eks, "eks", "list-clusters", env=jane) == (
        "An error occurred (AccessDeniedException) when calling the ListClusters operation: User: "
        f"arn:aws:iam::{account}:user/jane is not authorized to perform: eks:ListClusters on resource: "
        f"arn:aws:eks:us-east-1:{account}:cluster/*")
    eks_client, iam = client(eks, "eks", jane), eks.client("iam")
    assert error(client(eks, "iam", jane).list_users) == (
        "AccessDenied", f"User: arn:aws:iam::{account}:user/jane is not authorized to perform: iam:ListUsers on "
                        f"resource: arn:aws:iam::{account}:user/ because no identity-based policy allows the "
                        "iam:ListUsers action")
    assert error(client(eks, "autoscaling", jane).describe_auto_scaling_groups) == (
        "AccessDenied", f"User: arn:aws:iam::{account}:user/jane is not authorized to perform: "
                        "autoscaling:DescribeAutoScalingGroups")
    identity = client(eks, "sts", jane).get_caller_identity()  # never denied
    assert identity["Arn"] == f"arn:aws:iam::{account}:user/jane"

    created = iam.create_policy(PolicyName="ReadEks", PolicyDocument=json.dumps(READ_EKS))["Policy"]
    assert created["Arn"] == f"arn:aws:iam::{account}:policy/ReadEks" and created["AttachmentCount"] == 0
    eks.aws("iam", "attach-user-policy", "--user-name", "jane", "--policy-arn", created["Arn"])
    assert json.loads(eks.aws("eks", "list-clusters", env=jane).stdout) == {"clusters": []}
    assert error(eks_client.describe_cluster, name="x")[0] == "ResourceNotFoundException"  # allowed, then missing
    assert error(eks_client.create_cluster, name="mine", roleArn="arn:aws:iam::111122223333:role/eksClusterRole",
                 resourcesVpcConfig={"subnetIds": ["subnet-0a1", "subnet-0b2"]}) == (
        "AccessDeniedException", f"User: arn:aws:iam::{account}:user/jane is not authorized to perform: "
                                 f"eks:CreateCluster on resource: arn:aws:eks:us-east-1:{account}:cluster/mine")
    assert iam.get_policy(PolicyArn=created["Arn"])["Policy"]["AttachmentCount"] == 1
    assert error(iam.delete_policy, PolicyArn=created["Arn"]) == (
        "DeleteConflict", "Cannot delete a policy attached to entities.")

    # an explicit Deny wins over any Allow, AdministratorAccess's too
    iam.attach_user_policy(UserName="jane", PolicyArn=ADMINISTRATOR_ACCESS)
    iam.put_user_policy(UserName="jane", PolicyName="no-listing",
                        PolicyDocument=statement("Deny", "eks:List*", f"arn:aws:eks:*:{account}:cluster/*"))
    assert error(eks_client.list_clusters) == (
        "AccessDeniedException", f"User: arn:aws:iam::{account}:user/jane is not authorized to perform: "
                                 f"eks:ListClusters on resource: arn:aws:eks:us-east-1:{account}:cluster/* with an "
                                 "explicit deny")
    eks.client().list_clusters()  # the admin's own policies are untouched
    assert iam.list_user_policies(UserName="jane")["PolicyNames"] == ["no-listing"]
    document = iam.get_user_policy(UserName="jane", PolicyName="no-listing")["PolicyDocument"]
    assert document["Statement"][0]["Effect"] == "Deny"  # botocore decodes IAM's URL-encoded documents
    iam.delete_user_policy(UserName="jane", PolicyName="no-listing")
    eks_client.list_clusters()
    client(eks, "iam", jane).list_users()  # AdministratorAccess: IAM too
    assert iam.list_attached_user_policies(UserName="jane")["AttachedPolicies"] == [
        {"PolicyName": "ReadEks", "PolicyArn": created["Arn"]},
        {"PolicyName": "AdministratorAccess", "PolicyArn": ADMINISTRATOR_ACCESS}]


def test_inactive_keys_sign_nothing(eks):
    jane, iam = new_key(eks, "jane"), eks.client("iam")
    key = jane["AWS_ACCESS_KEY_ID"]
    iam.put_user_policy(UserName="jane", PolicyName="eks", PolicyDocument=statement("Allow", "eks:*"))
    client(eks, "eks", jane).list_clusters()
    eks.aws("iam", "update-access-key", "--user-name", "jane", "--access-key-id", key, "--status", "Inactive")
    assert iam.list_access_keys(UserName="jane")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert refused(eks, "sts", "get-caller-identity", env=jane) == (
        f"An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: {INVALID_TOKEN}")
    assert error(client(eks, "eks", jane).list_clusters) == ("UnrecognizedClientException", INVALID_TOKEN)
    iam.update_access_key(UserName="jane", AccessKeyId=key, Status="Active")
    client(eks, "eks", jane).list_clusters()


def test_roles_and_policy_documents_as_iam_checks_them(eks):
    account, iam = eks.eks.account, eks.client("iam")
    (eks.home / "trust.json").write_text(trust({"Service": "eks.amazonaws.com"}))
    role = eks.aws_json("iam", "create-role", "--role-name", "AWSEKSClusterRole", "--assume-role-policy-document",
                        "file://trust.json")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{account}:role/AWSEKSClusterRole" and role["RoleId"].startswith("AROA")
    assert role["AssumeRolePolicyDocument"] == json.loads(trust({"Service": "eks.amazonaws.com"}))
    got = iam.get_role(RoleName="awseksclusterrole")["Role"]
    assert (got["RoleName"], got["MaxSessionDuration"], got["Path"]) == ("AWSEKSClusterRole", 3600, "/")
    assert error(iam.create_role, RoleName="awseksClusterRole", AssumeRolePolicyDocument=trust("*")) == (
        "EntityAlreadyExists", "Role with name awseksClusterRole already exists.")

    with_resource = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole", "Resource": "*"}]})
    no_resource = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:*"}]})
    nobody = f"arn:aws:iam::{account}:user/nobody"
    for call, kwargs, message in [
            (iam.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": with_resource},
             "Has prohibited field Resource"),
            (iam.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": trust({"AWS": nobody})},
             f'Invalid principal in policy: "AWS":"{nobody}"'),
            (iam.put_role_policy, {"RoleName": "AWSEKSClusterRole", "PolicyName": "p", "PolicyDocument": "{no json"},
             "This policy contains invalid Json"),
            (iam.put_role_policy, {"RoleName": "AWSEKSClusterRole", "PolicyName": "p", "PolicyDocument": trust("*")},
             "Policy document should not specify a principal."),
            (iam.create_policy, {"PolicyName": "p", "PolicyDocument": no_resource},
             "Policy statement must contain resources.")]:
        assert error(call, **kwargs) == ("MalformedPolicyDocument", message)

    iam.attach_role_policy(RoleName="AWSEKSClusterRole", PolicyArn=AWS_POLICY + "AmazonEKSClusterPolicy")
    iam.put_role_policy(RoleName="AWSEKSClusterRole", PolicyName="logs", PolicyDocument=statement("Allow", "logs:*"))
    assert iam.list_attached_role_policies(RoleName="AWSEKSClusterRole")["AttachedPolicies"] == [
        {"PolicyName": "AmazonEKSClusterPolicy", "PolicyArn": AWS_POLICY + "AmazonEKSClusterPolicy"}]
    assert iam.list_role_policies(RoleName="AWSEKSClusterRole")["PolicyNames"] == ["logs"]
    got = iam.get_role_policy(RoleName="AWSEKSClusterRole", PolicyName="logs")
    assert got["PolicyDocument"]["Statement"][0]["Action"] == "logs:*"
    assert error(iam.get_role_policy, RoleName="AWSEKSClusterRole", PolicyName="other") == (
        "NoSuchEntity", "The role policy with name other cannot be found.")
    assert error(iam.delete_role, RoleName="AWSEKSClusterRole") == (
        "DeleteConflict", "Cannot delete entity, must detach all policies first.")
    iam.detach_role_policy(RoleName="AWSEKSClusterRole", PolicyArn=AWS_POLICY + "AmazonEKSClusterPolicy")
    assert error(iam.detach_role_policy, RoleName="AWSEKSClusterRole",
                 PolicyArn=AWS_POLICY + "AmazonEKSClusterPolicy") == (
        "NoSuchEntity", f"Policy {AWS_POLICY}AmazonEKSClusterPolicy was not found.")
    assert error(iam.delete_role, RoleName="AWSEKSClusterRole") == (
        "DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.delete_role_policy(RoleName="AWSEKSClusterRole", PolicyName="logs")
    iam.delete_role(RoleName="AWSEKSClusterRole")
    assert iam.list_roles()["Roles"] == []
    assert error(iam.get_role, RoleName="AWSEKSClusterRole") == (
        "NoSuchEntity", "The role with name AWSEKSClusterRole cannot be found.")

    for name in ("AdministratorAccess", "AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
                 "AmazonEC2ContainerRegistryReadOnly", "AmazonEKSServicePolicy", "ReadOnlyAccess"):
        found = iam.get_policy(PolicyArn=AWS_POLICY + name)["Policy"]
        assert (found["PolicyName"], found["DefaultVersionId"], found["IsAttachable"]) == (name, "v1", True)
        version = iam.get_policy_version(PolicyArn=AWS_POLICY + name, VersionId="v1")["PolicyVersion"]
        assert version["Document"]["Version"] == "2012-10-17" and version["IsDefaultVersion"]
    assert error(iam.get_policy, PolicyArn=AWS_POLICY + "Nonesuch") == (
        "NoSuchEntity", f"Policy {AWS_POLICY}Nonesuch was not found.")
    assert error(iam.attach_user_policy, UserName="admin", PolicyArn=AWS_POLICY + "Nonesuch") == (
        "NoSuchEntity", f"Policy {AWS_POLICY}Nonesuch does not exist or is not attachable.")
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert [p["PolicyName"] for p in iam.list_policies(OnlyAttached=True)["Policies"]] == ["AdministratorAccess"]


def test_assume_role_gives_temporary_credentials_of_the_role(eks):
    account, iam = eks.eks.account, eks.client("iam")
    jane, bob = new_key(eks, "jane"), new_key(eks, "bob")
    bob_arn = f"arn:aws:iam::{account}:user/bob"
    viewers = iam.create_role(RoleName="viewers", AssumeRolePolicyDocument=trust(
        {"AWS": f"arn:aws:iam::{account}:user/jane"}))["Role"]
    iam.attach_role_policy(RoleName="viewers", PolicyArn=AWS_POLICY + "ReadOnlyAccess")

    # jane, named in the trust policy, needs no policy of her own to assume it
    assumed = json.loads(eks.aws("sts", "assume-role", "--role-arn", viewers["Arn"], "--role-session-name", "jane-1",
                                 env=jane).stdout)
    credentials = assumed["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["SecretAccessKey"]) == 40
    session_arn = f"arn:aws:sts::{account}:assumed-role/viewers/jane-1"
    assert assumed["AssumedRoleUser"] == {"AssumedRoleId": f"{viewers['RoleId']}:jane-1", "Arn": session_arn}
    session = session_env(credentials)
    identity = json.loads(eks.aws("sts", "get-caller-identity", env=session).stdout)
    assert identity == {"UserId": f"{viewers['RoleId']}:jane-1", "Account": account, "Arn": session_arn}
    as_session = client(eks, "eks", session)
    assert as_session.list_clusters()["clusters"] == []  # ReadOnlyAccess
    assert error(as_session.delete_cluster, name="x") == (
        "AccessDeniedException", f"User: {session_arn} is not authorized to perform: eks:DeleteCluster on resource: "
                                 f"arn:aws:eks:us-east-1:{account}:cluster/x")

    # bob is not named: refused, whatever his own policies say
    bob_sts = client(eks, "sts", bob)
    iam.put_user_policy(UserName="bob", PolicyName="assume", PolicyDocument=statement("Allow", "sts:AssumeRole"))
    assert error(bob_sts.assume_role, RoleArn=viewers["Arn"], RoleSessionName="bob") == (
        "AccessDenied", f"User: {bob_arn} is not authorized to perform: sts:AssumeRole on resource: {viewers['Arn']}")
    # a role trusting the account: its users need a policy allowing sts:AssumeRole on it, and no Deny
    team = iam.create_role(RoleName="team", AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{account}:root"}),
                           MaxSessionDuration=7200)["Role"]["Arn"]
    assert error(client(eks, "sts", jane).assume_role, RoleArn=team, RoleSessionName="jane")[0] == "AccessDenied"
    long = bob_sts.assume_role(RoleArn=team, RoleSessionName="bob", DurationSeconds=7200)
    assert long["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/team/bob"
    assert long["Credentials"]["Expiration"].timestamp() == pytest.approx(time.time() + 7200, abs=60)
    assert error(bob_sts.assume_role, RoleArn=team, RoleSessionName="bob", DurationSeconds=7201) == (
        "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    iam.put_user_policy(UserName="bob", PolicyName="not-team", PolicyDocument=statement("Deny", "sts:AssumeRole", team))
    assert error(bob_sts.assume_role, RoleArn=team, RoleSessionName="bob")[1].endswith(
        f"on resource: {team} with an explicit deny")
    assert error(bob_sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/missing",
                 RoleSessionName="bob")[0] == "AccessDenied"

    # temporary credentials sign only with their own token, and not once expired
    wrong = client(eks, "sts", {**session, "AWS_SESSION_TOKEN": base64.b64encode(b"x" * 64).decode()})
    assert error(wrong.get_caller_identity) == ("InvalidClientTokenId", INVALID_TOKEN)
    without_token = {k: v for k, v in session.items() if k != "AWS_SESSION_TOKEN"}
    assert error(client(eks, "eks", without_token).list_clusters) == ("UnrecognizedClientException", INVALID_TOKEN)
    eks.eks.iam.sessions.get(credentials["AccessKeyId"])["Expiration"] = time.time() - 1
    assert refused(eks, "sts", "get-caller-identity", env=session) == (
        f"An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: {EXPIRED_TOKEN}")
    assert error(as_session.list_clusters) == ("ExpiredTokenException", EXPIRED_TOKEN)


def test_sessions_and_policies_outlive_a_restart(tmp_path):
    home = tmp_path / "eks"
    with EksService(home) as eks:
        account, jane, iam = eks.eks.account, new_key(eks, "jane"), eks.client("iam")
        role = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=trust(
            {"AWS": f"arn:aws:iam::{account}:user/jane"}))["Role"]["Arn"]
        iam.put_role_policy(RoleName="ops", PolicyName="eks", PolicyDocument=json.dumps(READ_EKS))
        credentials = client(eks, "sts", jane).assume_role(RoleArn=role, RoleSessionName="ses")["Credentials"]
        session_token = eks.aws_json("sts", "get-session-token", "--duration-seconds", "900")["Credentials"]
    for name in ("iam.json", "sessions.json"):
        assert oct((home / "data" / name).stat().st_mode & 0o777) == "0o600"
    with EksService(home) as eks:
        session = session_env(credentials)
        assert client(eks, "sts", session).get_caller_identity()["Arn"] == f"arn:aws:sts::{account}:assumed-role/ops/ses"
        client(eks, "eks", session).list_clusters()
        assert error(client(eks, "eks", session).delete_cluster, name="x")[0] == "AccessDeniedException"
        admin = session_env(session_token)  # GetSessionToken's: the user's own permissions, IAM aside
        assert client(eks, "sts", admin).get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:user/admin"
        client(eks, "eks", admin).list_clusters()
        assert error(client(eks, "iam", admin).list_users) == ("InvalidClientTokenId", INVALID_TOKEN)
        assert error(client(eks, "sts", admin).get_session_token) == (
            "AccessDenied", "Cannot call GetSessionToken with session credentials")


def test_files_from_before_policies_give_the_admin_administrator_access(tmp_path):
    old = {"account": "123456789012", "users": [
        {"name": "admin", "userId": "AIDAOLDADMIN000000000", "accessKeyId": "AKIAOLDADMIN00000000",
         "secretAccessKey": "a" * 40},
        {"name": "dev", "userId": "AIDAOLDDEV00000000000", "accessKeyId": "AKIAOLDDEV0000000000",
         "secretAccessKey": "d" * 40}]}
    (tmp_path / "iam.json").write_text(json.dumps(old))
    iam = IAM(str(tmp_path))
    assert iam.account == "123456789012" and iam.admin.principal.access_key_id == "AKIAOLDADMIN00000000"
    dev = iam.lookup("AKIAOLDDEV0000000000")
    assert (dev.principal.arn, dev.principal.user_id, dev.secret_access_key) == \
        ("arn:aws:iam::123456789012:user/dev", "AIDAOLDDEV00000000000", "d" * 40)
    resource = "arn:aws:eks:us-east-1:123456789012:cluster/*"
    assert policy.decide(iam.identity_policies(iam.admin.principal), "eks:ListClusters", resource) == policy.ALLOW
    assert policy.decide(iam.identity_policies(dev.principal), "eks:ListClusters", resource) is None


def test_policy_evaluation():
    def decide(*statements: dict, action: str, resource: str) -> str | None:
        document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        return policy.decide([policy.parse(document)], action, resource)

    cluster = "arn:aws:eks:us-east-1:123456789012:cluster/demo"
    describe = {"Effect": "Allow", "Action": "EKS:describe*", "Resource": "arn:aws:eks:*:123456789012:cluster/d?mo"}
    assert decide(describe, action="eks:DescribeCluster", resource=cluster) == policy.ALLOW
    assert decide(describe, action="eks:DescribeCluster", resource=cluster + "2") is None
    assert decide(describe, action="eks:ListClusters", resource=cluster) is None
    assert decide(describe, action="eks:DescribeCluster",
                  resource=cluster.replace("123456789012", "111122223333")) is None
    deny_all_but_list = {"Effect": "Deny", "NotAction": "eks:List*", "Resource": "*"}
    assert decide(describe, deny_all_but_list, action="eks:DescribeCluster", resource=cluster) == policy.DENY
    all_but_prod = {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:eks:*:*:cluster/prod*"}
    assert decide(all_but_prod, action="eks:DeleteCluster", resource=cluster) == policy.ALLOW
    assert decide(all_but_prod, action="eks:DeleteCluster", resource=cluster.replace("demo", "prod-1")) is None
    nodegroup = "arn:aws:eks:us-east-1:123456789012:nodegroup/demo/workers/8ac6"
    for pattern, expected in (("arn:aws:eks:*:*:nodegroup/demo/*", policy.ALLOW),
                              ("arn:aws:eks:*:*:nodegroup/other/*", None)):
        assert decide({"Effect": "Allow", "Action": "eks:*", "Resource": pattern}, action="eks:UpdateNodegroupConfig",
                      resource=nodegroup) == expected
    for bad, message in (({"Effect": "Allow", "Action": "ListClusters", "Resource": "*"},
                          "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
                         ({"Effect": "Maybe", "Action": "eks:*", "Resource": "*"}, "Syntax errors in policy."),
                         ({"Effect": "Allow", "Action": "eks:*", "Resource": "cluster/demo"},
                          'Resource cluster/demo must be in ARN format or "*".')):
        with pytest.raises(Exception) as caught:
            policy.parse(json.dumps({"Version": "2012-10-17", "Statement": bad}))
        assert (caught.value.code, caught.value.message) == ("MalformedPolicyDocument", message)

    def how(principal: dict | str, caller: str, effect: str = "Allow") -> str | None:
        return policy.trusted(policy.parse(trust(principal, effect), trust=True), caller,
                              "arn:aws:iam::123456789012:role/path/r")

    user = "arn:aws:iam::123456789012:user/jane"
    assert how({"AWS": user}, user) == policy.NAMED
    assert how({"AWS": "123456789012"}, user) == policy.BY_ACCOUNT
    assert how({"AWS": "arn:aws:iam::123456789012:root"}, user) == policy.BY_ACCOUNT
    assert how("*", user) == policy.NAMED
    assert how({"AWS": "arn:aws:iam::111122223333:root"}, user) is None
    assert how({"AWS": user}, user, "Deny") is None
    session = "arn:aws:sts::123456789012:assumed-role/r/s"
    assert how({"AWS": "arn:aws:iam::123456789012:role/path/r"}, session) == policy.NAMED
    assert how({"Service": "eks.amazonaws.com"}, user) is None


def test_an_assumed_role_signs_in_to_a_cluster_through_the_roles_access_entry(eks):
    account, iam = eks.eks.account, eks.client("iam")
    cluster_role = iam.create_role(RoleName="AWSEKSClusterRole",
                                   AssumeRolePolicyDocument=trust({"Service": "eks.amazonaws.com"}))["Role"]["Arn"]
    vpc = {"subnetIds": ["subnet-0a1", "subnet-0b2"]}
    admin = eks.client()
    missing = f"arn:aws:iam::{account}:role/missing"
    assert error(admin.create_cluster, name="nope", roleArn=missing, resourcesVpcConfig=vpc) == (
        "InvalidParameterException", f"Role with arn: {missing}, could not be assumed because it does not exist or "
                                     "the trusted entity is not correct")
    admin.create_cluster(name="demo", roleArn=cluster_role, resourcesVpcConfig=vpc,
                         accessConfig={"authenticationMode": "API"})
    admin.get_waiter("cluster_active").wait(name="demo", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    nodegroup = {"clusterName": "demo", "nodegroupName": "workers", "subnets": ["subnet-0a1"]}
    assert error(admin.create_nodegroup, nodeRole=missing, **nodegroup) == (
        "InvalidParameterException", "The role with name missing cannot be found.")
    assert error(admin.create_nodegroup, nodeRole=cluster_role, **nodegroup) == (
        "InvalidParameterException", "Following required service principals [ec2.amazonaws.com] were not found in "
                                     f"the trust relationships of nodeRole {cluster_role}")

    jane = new_key(eks, "jane")
    role = iam.create_role(RoleName="eks-admins", AssumeRolePolicyDocument=trust(
        {"AWS": f"arn:aws:iam::{account}:user/jane"}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="eks-admins", PolicyName="describe", PolicyDocument=statement(
        "Allow", "eks:DescribeCluster", f"arn:aws:eks:*:{account}:cluster/demo"))
    credentials = json.loads(eks.aws("sts", "assume-role", "--role-arn", role, "--role-session-name", "jane",
                                     env=jane).stdout)["Credentials"]
    session = session_env(credentials)
    eks.aws("eks", "update-kubeconfig", "--name", "demo", env=session)
    token = json.loads(eks.aws("eks", "get-token", "--cluster-name", "demo", env=session).stdout)["status"]["token"]
    assert "X-Amz-Security-Token=" in base64.urlsafe_b64decode(token.removeprefix("k8s-aws-v1.") + "==").decode()

    def kubectl(*args: str) -> subprocess.CompletedProcess:
        env = {**eks.env, **session, "HOME": str(eks.home)}
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=120, cwd=eks.home)

    denied = kubectl("get", "svc")
    assert denied.returncode != 0 and "You must be logged in to the server" in denied.stderr
    admin.create_access_entry(clusterName="demo", principalArn=role)
    admin.associate_access_policy(clusterName="demo", principalArn=role,
                                  policyArn=ACCESS_POLICY + "AmazonEKSClusterAdminPolicy",
                                  accessScope={"type": "cluster"})
    next_token()
    services = kubectl("get", "svc")
    assert services.returncode == 0, services.stderr
    assert "kubernetes" in services.stdout
    me = json.loads(kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert me["username"] == f"arn:aws:sts::{account}:assumed-role/eks-admins/jane"
    assert me["extra"]["canonicalArn"] == [role] and me["extra"]["sessionName"] == ["jane"]
