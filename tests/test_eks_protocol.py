"""The EKS service's wire: SigV4 checks, the REST-JSON and Query protocols, errors as botocore reads them,
with the real boto3 and `aws` CLI against a real service; and the protocols' parsers and serializers
against botocore's own serializers and parsers."""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from timoneiro.apiserver.server import free_port
from timoneiro.eks import sigv4
from timoneiro.eks.errors import AwsError, not_found
from timoneiro.eks.iam import IAM
from timoneiro.eks.protocol import CommonError, query, restjson, service_model

# helpers


def wire(service: str, operation: str, params: dict, endpoint: str = "http://127.0.0.1:1") -> AWSRequest:
    """The request botocore's own serializer makes of a call, unsigned."""
    model = service_model(service).operation_model(operation)
    request = create_serializer(model.metadata["protocol"], include_validation=False).serialize_to_request(
        params, model)
    prepare_request_dict(request, endpoint)
    return create_request_object(request).prepare()


def signed(url: str, key, method: str = "GET", path: str = "/", body: bytes = b"", service: str = "eks",
           headers: dict | None = None, sign: bool = True) -> tuple[int, dict[str, str], bytes]:
    """A raw request (as curl would send it), signed with botocore's SigV4 unless sign=False."""
    request = AWSRequest(method=method, url=url + path, data=body, headers=headers or {})
    if sign:
        SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=prepared.body,
                     headers=dict(prepared.headers))
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def admin_key(service) -> tuple[str, str]:
    key = service.server.credentials
    return key.principal.access_key_id, key.secret_access_key


def error_of(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response


# the service, with real clients


def test_list_clusters_on_an_empty_service(eks):
    assert eks.client().list_clusters()["clusters"] == []
    assert eks.aws_json("eks", "list-clusters") == {"clusters": []}


def test_sts_get_caller_identity_with_the_aws_cli(eks):
    admin = eks.server.credentials.principal
    identity = eks.aws_json("sts", "get-caller-identity")
    assert identity == {"UserId": admin.user_id, "Account": admin.account, "Arn": admin.arn}
    assert admin.arn == f"arn:aws:iam::{eks.eks.account}:user/admin"


def test_unknown_access_key_is_unrecognized(eks):
    response = error_of(lambda: eks.client(access_key_id="AKIAIOSFODNN7EXAMPLE", secret="x").list_clusters())
    assert response["Error"] == {"Code": "UnrecognizedClientException",
                                 "Message": "The security token included in the request is invalid."}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    response = error_of(lambda: eks.client("sts", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="x")
                        .get_caller_identity())
    assert response["Error"]["Code"] == "InvalidClientTokenId"
    assert response["Error"]["Type"] == "Sender"


def test_wrong_secret_is_an_invalid_signature(eks):
    key_id = eks.server.credentials.principal.access_key_id
    response = error_of(lambda: eks.client(access_key_id=key_id, secret="wrong").list_clusters())
    assert response["Error"] == {"Code": "InvalidSignatureException", "Message": sigv4.MISMATCH}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    response = error_of(lambda: eks.client("autoscaling", access_key_id=key_id, secret="wrong")
                        .describe_auto_scaling_groups())
    assert response["Error"]["Code"] == "SignatureDoesNotMatch"
    proc = eks.aws("eks", "list-clusters", check=False, env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert proc.returncode != 0
    assert "(InvalidSignatureException)" in proc.stderr and "does not match the signature" in proc.stderr


def test_unsigned_requests_are_refused_in_their_protocol(eks):
    status, headers, body = signed(eks.url, None, path="/clusters", sign=False)
    assert status == 403
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-requestid"]
    status, headers, body = signed(eks.url, None, method="POST", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"}, sign=False)
    assert status == 403
    parsed = create_parser("query").parse({"status_code": status, "headers": headers, "body": body}, None)
    assert parsed["Error"]["Code"] == "MissingAuthenticationToken"
    assert parsed["ResponseMetadata"]["RequestId"] == headers["x-amzn-requestid"]


def test_resource_not_found_round_trip(eks):
    client = eks.client()
    with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
        client.describe_cluster(name="missing")
    assert info.value.response["Error"] == {"Code": "ResourceNotFoundException",
                                            "Message": "No cluster found for name: missing."}
    assert info.value.response["clusterName"] == "missing"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    proc = eks.aws("eks", "describe-cluster", "--name", "missing", check=False)
    assert proc.returncode != 0
    assert "(ResourceNotFoundException) when calling the DescribeCluster operation: No cluster found for name: " \
           "missing." in proc.stderr


def test_labels_are_decoded_after_the_signature_covers_them(eks):
    """An ARN label travels percent-encoded (':' and '/'); the signature is over the encoded path."""
    arn = f"arn:aws:eks:us-east-1:{eks.eks.account}:cluster/missing"
    response = error_of(lambda: eks.client().list_tags_for_resource(resourceArn=arn))
    assert response["Error"]["Code"] == "NotFoundException"
    assert arn in response["Error"]["Message"]


def test_query_protocol_errors_round_trip(eks):
    sts = eks.client("sts", retries={"max_attempts": 1})
    response = error_of(lambda: sts.get_federation_token(Name="bob"))
    assert response["Error"]["Code"] == "NotImplemented"
    assert response["Error"]["Type"] == "Receiver"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    status, headers, body = signed(eks.url, admin_key(eks), method="POST", service="sts",
                                   body=b"Action=NoSuchThing&Version=2011-06-15",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    parsed = create_parser("query").parse({"status_code": status, "headers": headers, "body": body}, None)
    assert status == 400
    assert parsed["Error"] == {"Type": "Sender", "Code": "InvalidAction",
                               "Message": "Could not find operation NoSuchThing for version 2011-06-15"}


def test_unknown_route_and_bad_bodies(eks):
    key = admin_key(eks)
    status, headers, body = signed(eks.url, key, path="/no/such/thing")
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    json_headers = {"Content-Type": "application/json"}
    status, headers, body = signed(eks.url, key, method="POST", path="/clusters", body=b"{not json",
                                   headers=json_headers)
    assert (status, headers["x-amzn-errortype"]) == (400, "SerializationException")
    status, headers, body = signed(eks.url, key, method="POST", path="/clusters", body=b'{"name": "a"}',
                                   headers=json_headers)
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidParameterException")
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in json.loads(body)[
        "message"]
    status, headers, body = signed(eks.url, key, method="POST", path="/clusters",
                                   body=b'{"name": 7, "roleArn": "r", "resourcesVpcConfig": {}}', headers=json_headers)
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidParameterException")
    assert "at 'name' failed to satisfy constraint: Member must be of type string" in json.loads(body)["message"]


def test_the_token_webhook_is_the_one_unsigned_path(eks):
    status, headers, body = signed(eks.url, None, method="POST", path="/webhooks/authentication/nope",
                                   body=b'{"kind": "TokenReview"}', sign=False)
    assert (status, headers["content-type"]) == (401, "application/json")
    assert json.loads(body)["reason"] == "Unauthorized"
    assert headers["x-amzn-requestid"]
    status, headers, _ = signed(eks.url, None, path="/webhooks/authentication/nope", sign=False)
    assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")


def test_body_too_large(eks):
    status, headers, body = signed(eks.url, None, method="POST", path="/clusters", body=b"x" * (2 << 20),
                                   sign=False, headers={"Content-Type": "application/json"})
    assert (status, headers["x-amzn-errortype"]) == (413, "RequestEntityTooLargeException")
    conn = http.client.HTTPConnection("127.0.0.1", eks.server.port, timeout=30)  # chunked: no length to refuse
    try:
        conn.request("POST", "/clusters", body=(b"y" * 65536 for _ in range(20)), encode_chunked=True)
        response = conn.getresponse()
        assert (response.status, response.getheader("x-amzn-ErrorType")) == (413, "RequestEntityTooLargeException")
    finally:
        conn.close()


# presigned URLs: EKS tokens


def _token_url(service, cluster: str, secret: str | None = None) -> str:
    """What `aws eks get-token` presigns: sts GetCallerIdentity, with x-k8s-aws-id signed."""
    from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator

    session = botocore.session.Session()
    session.set_config_variable("config_file", str(service.aws_config))
    session.set_config_variable("credentials_file", str(service.aws_credentials))
    key_id, key_secret = admin_key(service)
    session.set_credentials(key_id, secret or key_secret)
    sts = STSClientFactory(session).get_sts_client(region_name="us-east-1")
    url = _decode_token(TokenGenerator(sts).get_token(cluster))
    assert url.startswith(f"{service.url}/?"), url  # never anywhere else
    return url


def _decode_token(token: str) -> str:
    payload = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def test_presigned_token_from_the_aws_cli_verifies(eks):
    credential = eks.aws_json("eks", "get-token", "--cluster-name", "c1")
    url = _decode_token(credential["status"]["token"])
    assert url.startswith(eks.url)
    principal, service, region = sigv4.verify_presigned(eks.eks.iam, "GET", url, {"x-k8s-aws-id": "c1"})
    assert (principal, service, region) == (eks.server.credentials.principal, "sts", "us-east-1")
    with pytest.raises(AwsError) as info:  # a token for another cluster
        sigv4.verify_presigned(eks.eks.iam, "GET", url, {"x-k8s-aws-id": "c2"})
    assert info.value.query_code == "SignatureDoesNotMatch"


def test_presigned_url_is_a_get_caller_identity_call(eks):
    url = urlsplit(_token_url(eks, "c1"))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("GET", f"{url.path}?{url.query}", headers={"x-k8s-aws-id": "c1"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, body
    operation = service_model("sts").operation_model("GetCallerIdentity")
    parsed = create_parser("query").parse({"status_code": 200, "headers": {}, "body": body}, operation.output_shape)
    assert parsed["Arn"] == eks.server.credentials.principal.arn


def test_presigned_tampered_expired_and_wrong_secret(eks):
    iam, url = eks.eks.iam, _token_url(eks, "c1")
    with pytest.raises(AwsError) as info:
        sigv4.verify_presigned(iam, "GET", url.replace("Action=GetCallerIdentity", "Action=GetSessionToken"),
                               {"x-k8s-aws-id": "c1"})
    assert info.value.message == sigv4.MISMATCH
    with pytest.raises(AwsError) as info:
        sigv4.verify_presigned(iam, "GET", url, {"x-k8s-aws-id": "c1"}, now=time.time() + 16 * 60)
    assert info.value.message.startswith("Signature expired: ")
    assert info.value.message.endswith(" - 15 min.)")
    # X-Amz-Expires=60, yet STS honours such a URL for 15 minutes: kubectl reuses a token for 14
    sigv4.verify_presigned(iam, "GET", url, {"x-k8s-aws-id": "c1"}, now=time.time() + 14 * 60)
    with pytest.raises(AwsError) as info:
        sigv4.verify_presigned(iam, "GET", _token_url(eks, "c1", secret="wrong"), {"x-k8s-aws-id": "c1"})
    assert info.value.message == sigv4.MISMATCH
    with pytest.raises(AwsError) as info:
        sigv4.verify_presigned(iam, "GET", url.split("?")[0] + "?Action=GetCallerIdentity", {})
    assert info.value.code == "MissingAuthenticationTokenException"


def test_header_signature_expiry_and_tampering(tmp_path):
    iam = IAM(str(tmp_path))
    key = iam.admin
    request = AWSRequest(method="POST", url="http://127.0.0.1:9/clusters", data=b'{"name": "a"}',
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key.principal.access_key_id, key.secret_access_key), "eks", "eu-west-1").add_auth(request)
    prepared = request.prepare()
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = "127.0.0.1:9"
    verify = lambda body=prepared.body, **kw: sigv4.verify_request(  # noqa: E731
        iam, "POST", prepared.url, headers, body, **kw)
    assert verify() == (key.principal, "eks", "eu-west-1")
    with pytest.raises(AwsError) as info:
        verify(b'{"name": "b"}')
    assert info.value.code == "InvalidSignatureException"
    with pytest.raises(AwsError) as info:
        verify(now=time.time() + 6 * 60)
    assert info.value.message.startswith(f"Signature expired: {headers['x-amz-date']} is now earlier than ")
    assert info.value.message.endswith(" - 5 min.)")
    with pytest.raises(AwsError) as info:
        verify(now=time.time() - 6 * 60)
    assert info.value.message.startswith("Signature not yet current: ")
    del headers["x-amz-date"]
    with pytest.raises(AwsError) as info:
        verify()
    assert info.value.code == "IncompleteSignatureException"


# the `timoneiro eks serve` command


def test_eks_serve_prints_credentials_and_stops_on_sigterm(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "timoneiro.cli.main", "eks", "serve", "--data-dir", str(data),
                             "--address", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("export AWS_ENDPOINT_URL"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        exports = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines
                       if line.startswith("export "))
        assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        assert exports["AWS_DEFAULT_REGION"] == "us-east-1"
        env_file = data / "aws.env"
        assert oct(os.stat(env_file).st_mode & 0o777) == "0o600"
        assert env_file.read_text() == "".join(line for line in lines if line.startswith("export "))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(exports, AWS_CONFIG_FILE=str(tmp_path / "cfg"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "cr"))
        out = subprocess.run(["aws", "sts", "get-caller-identity", "--output", "json"], capture_output=True,
                             text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["Arn"].endswith(":user/admin")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# the protocols against botocore's own serializers and parsers


def _routed(service: str, operation: str, params: dict) -> dict:
    request = wire(service, operation, params)
    parts = urlsplit(request.url)
    if service_model(service).protocol == "query":
        model = service_model(service)
        form = dict(parse_qsl(request.body, keep_blank_values=True))
        op = query.operation(model, form)
        assert op.name == operation
        return query.parse(op, form)
    queries: dict[str, list[str]] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        queries.setdefault(k, []).append(v)
    op, labels = restjson.route(service_model(service), request.method, parts.path, queries)
    assert op.name == operation
    headers = {k.lower(): v for k, v in request.headers.items()}
    return restjson.parse(op, labels, queries, headers, request.body or b"")


@pytest.mark.parametrize(("operation", "params"), [
    ("ListClusters", {"maxResults": 10, "nextToken": "a/b+c=", "include": ["all", "x y"]}),
    ("DescribeAccessEntry", {"clusterName": "c1", "principalArn": "arn:aws:iam::123456789012:role/a/b"}),
    ("ListTagsForResource", {"resourceArn": "arn:aws:eks:us-east-1:123456789012:cluster/c1"}),
    ("CreateNodegroup", {"clusterName": "c1", "nodegroupName": "ng", "nodeRole": "arn:aws:iam::1:role/n",
                         "subnets": ["subnet-1", "subnet-2"], "scalingConfig": {"minSize": 0, "maxSize": 2,
                                                                                "desiredSize": 1},
                         "labels": {"a": "b"}, "taints": [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}],
                         "tags": {}, "diskSize": 20, "capacityType": "SPOT", "instanceTypes": []}),
    ("UpdateClusterConfig", {"name": "c1", "resourcesVpcConfig": {"endpointPublicAccess": False,
                                                                   "publicAccessCidrs": ["10.0.0.0/8"]},
                             "logging": {"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]}}),
    ("DeleteNodegroup", {"clusterName": "c 1", "nodegroupName": "ng%/x"}),
])
def test_restjson_requests_parse_as_botocore_wrote_them(operation, params):
    assert _routed("eks", operation, params) == params


@pytest.mark.parametrize(("service", "operation", "params"), [
    ("autoscaling", "UpdateAutoScalingGroup", {"AutoScalingGroupName": "g", "MinSize": 0, "MaxSize": 3,
                                               "NewInstancesProtectedFromScaleIn": True,
                                               "AvailabilityZones": ["us-east-1a", "us-east-1b"]}),
    ("autoscaling", "DescribeScalingActivities", {"AutoScalingGroupName": "g", "ActivityIds": [],
                                                  "MaxRecords": 5}),
    ("autoscaling", "CreateAutoScalingGroup", {
        "AutoScalingGroupName": "g", "MinSize": 1, "MaxSize": 2,
        "Tags": [{"Key": "k", "Value": "v", "PropagateAtLaunch": False}],
        "MixedInstancesPolicy": {"InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 0},
                                 "LaunchTemplate": {"Overrides": [{"InstanceType": "m5.large"}]}}}),
    ("autoscaling", "PutScheduledUpdateGroupAction", {"AutoScalingGroupName": "g", "ScheduledActionName": "s",
                                                      "StartTime": 1700000000.0}),
    ("sts", "GetCallerIdentity", {}),
])
def test_query_requests_parse_as_botocore_wrote_them(service, operation, params):
    assert _routed(service, operation, params) == params


def test_query_validation():
    model = service_model("autoscaling")
    op = model.operation_model("SetDesiredCapacity")
    with pytest.raises(AwsError) as info:
        query.parse(op, {"Action": "SetDesiredCapacity", "DesiredCapacity": "2"})
    assert (info.value.code, str(info.value)) == ("ValidationError", "1 validation error detected: Value null at "
                                                  "'AutoScalingGroupName' failed to satisfy constraint: Member must "
                                                  "not be null")
    with pytest.raises(AwsError) as info:
        query.parse(op, {"AutoScalingGroupName": "g", "DesiredCapacity": "two"})
    assert "Value 'two' at 'DesiredCapacity'" in str(info.value)


def test_restjson_routes_prefer_literals():
    model = service_model("eks")
    assert restjson.route(model, "POST", "/clusters/c1/updates", {})[0].name == "UpdateClusterVersion"
    assert restjson.route(model, "POST", "/clusters/c1/update-config", {})[0].name == "UpdateClusterConfig"
    op, labels = restjson.route(model, "DELETE", "/clusters/c1/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr"
                                                 "/access-policies/arn%3Aaws%3Aeks%3A%3Aaws%3Acluster-access-policy%2FP",
                                {})
    assert op.name == "DisassociateAccessPolicy"
    assert labels == {"name": "c1", "principalArn": "arn:aws:iam::1:role/r",
                      "policyArn": "arn:aws:eks::aws:cluster-access-policy/P"}
    with pytest.raises(AwsError) as info:
        restjson.route(model, "GET", "/clusters/", {})
    assert info.value.status == 404


NOW = datetime.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=datetime.UTC)


def _parsed(service: str, operation: str, response) -> dict:
    model = service_model(service)
    shape = model.operation_model(operation).output_shape
    parsed = create_parser(model.protocol).parse(
        {"status_code": response.status, "headers": response.headers, "body": response.body}, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_restjson_output_round_trips_through_botocore():
    cluster = {"name": "c1", "arn": "arn:aws:eks:us-east-1:1:cluster/c1", "createdAt": NOW.timestamp(),
               "version": "1.32", "status": "ACTIVE", "tags": {}, "_port": 6443, "encryptionConfig": [],
               "certificateAuthority": {"data": "Q0E="}, "logging": {"clusterLogging": [
                   {"types": ["api"], "enabled": False}]},
               "resourcesVpcConfig": {"subnetIds": ["s-1"], "endpointPublicAccess": True, "vpcId": None},
               "health": {"issues": []}}
    operation = service_model("eks").operation_model("DescribeCluster")
    response = restjson.serialize(operation, {"cluster": cluster, "_extra": 1})
    assert response.status == 200
    expected = {k: v for k, v in cluster.items() if not k.startswith("_")}
    expected["createdAt"] = NOW
    expected["resourcesVpcConfig"] = {"subnetIds": ["s-1"], "endpointPublicAccess": True}
    assert _parsed("eks", "DescribeCluster", response) == {"cluster": expected}
    assert b"_port" not in response.body and b"vpcId" not in response.body


def test_query_output_round_trips_through_botocore():
    group = {"AutoScalingGroupName": "g", "MinSize": 0, "MaxSize": 2, "DesiredCapacity": 1,
             "DefaultCooldown": 300, "AvailabilityZones": ["us-east-1a"], "CreatedTime": NOW.timestamp(),
             "HealthCheckType": "EC2", "NewInstancesProtectedFromScaleIn": False, "LoadBalancerNames": [],
             "Instances": [{"InstanceId": "i-1", "AvailabilityZone": "us-east-1a", "LifecycleState": "InService",
                            "HealthStatus": "Healthy", "ProtectedFromScaleIn": True}],
             "Tags": [{"Key": "a&b", "Value": "<v>", "PropagateAtLaunch": True, "ResourceId": "g",
                       "ResourceType": "auto-scaling-group"}], "_activities": []}
    model = service_model("autoscaling")
    response = query.serialize(model, model.operation_model("DescribeAutoScalingGroups"),
                               {"AutoScalingGroups": [group]}, "req-1")
    expected = {k: v for k, v in group.items() if not k.startswith("_")}
    expected["CreatedTime"] = NOW.replace(microsecond=250000)
    assert _parsed("autoscaling", "DescribeAutoScalingGroups", response) == {"AutoScalingGroups": [expected]}
    parsed = create_parser("query").parse({"status_code": 200, "headers": {}, "body": response.body},
                                          model.operation_model("DescribeAutoScalingGroups").output_shape)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
    empty = query.serialize(model, model.operation_model("SetDesiredCapacity"), {}, "req-2")
    assert _parsed("autoscaling", "SetDesiredCapacity", empty) == {}


def test_errors_as_botocore_reads_them():
    eks_model = service_model("eks")
    response = restjson.error(eks_model, not_found("No node group.", clusterName="c", nodegroupName="n",
                                                   unmodeled="x"))
    parsed = create_parser("rest-json").parse({"status_code": response.status, "headers": response.headers,
                                               "body": response.body}, None)
    assert parsed["Error"] == {"Code": "ResourceNotFoundException", "Message": "No node group."}
    modeled = create_parser("rest-json").parse(
        {"status_code": response.status, "headers": response.headers, "body": response.body},
        eks_model.shape_for("ResourceNotFoundException"))
    assert modeled == {"clusterName": "c", "nodegroupName": "n", "message": "No node group."}
    model = service_model("autoscaling")
    for err, code, kind in ((AwsError("AlreadyExistsFault", "exists <g>"), "AlreadyExists", "Sender"),
                            (CommonError("X", "InternalFailure", "boom", 500), "InternalFailure", "Receiver")):
        response = query.error(model, err, "req-3")
        parsed = create_parser("query").parse({"status_code": response.status, "headers": response.headers,
                                               "body": response.body}, None)
        assert parsed["Error"] == {"Type": kind, "Code": code, "Message": err.message}
        assert parsed["ResponseMetadata"]["RequestId"] == "req-3"


# what the three models do not use yet, on a model of our own: greedy labels, a requestUri's own query,
# header members; flattened lists and maps


def _model(protocol: str, operation: dict, shapes: dict):
    from botocore.model import ServiceModel

    metadata = {"protocol": protocol, "apiVersion": "2020-01-01", "serviceId": "T", "endpointPrefix": "t",
                "signatureVersion": "v4", "xmlNamespace": "https://t.example/doc/2020-01-01/"}
    return ServiceModel({"metadata": metadata, "operations": {"Op": {"name": "Op", **operation}},
                         "shapes": shapes}, "t")


STRING = {"type": "string"}


def test_restjson_greedy_labels_required_query_and_headers():
    model = _model("rest-json", {"http": {"method": "GET", "requestUri": "/objects/{Key+}?versions"},
                                 "input": {"shape": "In"}},
                   {"In": {"type": "structure", "required": ["Key"], "members": {
                       "Key": {"shape": "S", "location": "uri", "locationName": "Key"},
                       "Flag": {"shape": "B", "location": "header", "locationName": "X-Flag"}}},
                    "S": STRING, "B": {"type": "boolean"}})
    op, labels = restjson.route(model, "GET", "/objects/a/b%20c/d", {"versions": [""]})
    assert labels == {"Key": "a/b c/d"}
    assert restjson.parse(op, labels, {}, {"x-flag": "true"}, b"") == {"Key": "a/b c/d", "Flag": True}
    with pytest.raises(AwsError):
        restjson.route(model, "GET", "/objects/a", {})  # without ?versions
    with pytest.raises(AwsError):
        restjson.route(model, "GET", "/objects/", {"versions": [""]})


def test_query_flattened_lists_and_maps_round_trip():
    shapes = {"In": {"type": "structure", "members": {
                  "Names": {"shape": "FlatList"}, "Attrs": {"shape": "FlatMap"}, "Plain": {"shape": "Map"},
                  "Inner": {"shape": "Inner"}}},
              "Out": {"type": "structure", "members": {
                  "Names": {"shape": "FlatList"}, "Attrs": {"shape": "FlatMap"}, "Plain": {"shape": "Map"},
                  "Inner": {"shape": "Inner"}, "Empty": {"shape": "List"}}},
              "Inner": {"type": "structure", "members": {"When": {"shape": "T"}, "Ok": {"shape": "B"},
                                                         "Ratio": {"shape": "D"}}},
              "FlatList": {"type": "list", "member": {"shape": "S", "locationName": "Name"}, "flattened": True},
              "List": {"type": "list", "member": {"shape": "S"}},
              "FlatMap": {"type": "map", "key": {"shape": "S", "locationName": "K"},
                          "value": {"shape": "S", "locationName": "V"}, "flattened": True},
              "Map": {"type": "map", "key": {"shape": "S"}, "value": {"shape": "S"}},
              "S": STRING, "B": {"type": "boolean"}, "D": {"type": "double"}, "T": {"type": "timestamp"}}
    model = _model("query", {"http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"},
                             "output": {"shape": "Out", "resultWrapper": "OpResult"}}, shapes)
    op = model.operation_model("Op")
    params = {"Names": ["a", "b"], "Attrs": {"x": "1", "y": "2"}, "Plain": {"k": "v"},
              "Inner": {"When": NOW.timestamp(), "Ok": False, "Ratio": 0.5}}
    form = create_serializer("query", include_validation=False).serialize_to_request(params, op)["body"]
    assert "Name.1" in form and "Attrs.1.K" in form
    assert query.parse(op, {k: str(v) for k, v in form.items()}) == params
    response = query.serialize(model, op, {**params, "Empty": []}, "r")
    parsed = create_parser("query").parse({"status_code": 200, "headers": {}, "body": response.body},
                                          op.output_shape)
    parsed.pop("ResponseMetadata")
    assert parsed == {**params, "Inner": {**params["Inner"], "When": NOW}, "Empty": []}


async def test_unhandled_failures_are_internal_errors(tmp_path, caplog):
    """A handler's bug is logged and answered as the service's internal error, in its protocol."""
    import httpx

    from timoneiro.eks.app import EksApp
    from timoneiro.eks.service import Eks

    async def broken(service, request):
        raise RuntimeError("a bug")

    service = Eks(str(tmp_path))
    app = EksApp(service)
    app.operations = {("sts", "GetCallerIdentity"): broken, ("eks", "ListClusters"): broken}
    key = service.iam.admin
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as client:
        for name, operation, protocol in (("sts", "GetCallerIdentity", "query"), ("eks", "ListClusters", "rest-json")):
            request = wire(name, operation, {}, "http://127.0.0.1:9")
            aws_request = AWSRequest(method=request.method, url=request.url, data=request.body,
                                     headers=dict(request.headers))
            SigV4Auth(Credentials(key.principal.access_key_id, key.secret_access_key), name, "us-east-1"
                      ).add_auth(aws_request)
            prepared = aws_request.prepare()
            response = await client.request(prepared.method, prepared.url, content=prepared.body,
                                            headers=dict(prepared.headers))
            parsed = create_parser(protocol).parse({"status_code": response.status_code,
                                                    "headers": dict(response.headers), "body": response.content},
                                                   None)
            assert response.status_code == 500
            assert parsed["Error"]["Code"] == ("InternalFailure" if protocol == "query" else "ServerException")
    assert "a bug" in caplog.text
