"""The CronJob controller against a real API server, on a fake clock the test moves forward: a Job per
scheduled time, concurrency policies, history limits, suspension, starting deadlines, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from controller_testing import Api, eventually, tuned_server
from pod_progress import finish_pod
from timoneiro.api.printers.age import parse_time
from timoneiro.controllers.clock import Clocked, FakeClock

CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server(clock, tmp_path, monkeypatch):
    """The API server, its controllers started on the fake clock."""
    with tuned_server(tmp_path, monkeypatch, {Clocked: {"clock": clock}}) as srv:
        yield srv


def cronjob_manifest(name: str = "hello", schedule: str = "* * * * *", **spec: object) -> str:
    template = {"spec": {"restartPolicy": "OnFailure",
                         "containers": [{"name": "c", "image": "busybox", "command": ["date"]}]}}
    job_template = {"metadata": {"labels": {"app": name}}, "spec": {"template": template}}
    return yaml.safe_dump({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
                           "spec": {"schedule": schedule, "jobTemplate": job_template, **spec}})


def create(kubectl, api: Api, clock: FakeClock, **spec: object) -> dict:
    """Create the CronJob "hello" and bring the fake clock up to its creation time (the API server stamps
    real time, which went on while the fake clock stood still)."""
    kubectl("apply", "-f", "-", input=cronjob_manifest(**spec))
    created = eventually(lambda: cronjob(api))
    behind = (parse_time(created["metadata"]["creationTimestamp"]) - clock.now()).total_seconds()
    if behind > 0:
        clock.step(behind)
    return created


def jobs(api: Api) -> list[dict]:
    return sorted(api.get(JOBS)["items"], key=lambda j: j["metadata"]["name"])


def job_names(api: Api, count: int) -> list[str]:
    """Wait for exactly `count` Jobs."""
    def check() -> list[str]:
        names = [j["metadata"]["name"] for j in jobs(api)]
        assert len(names) == count, names
        return names
    return eventually(check)


def cronjob(api: Api, name: str = "hello") -> dict:
    return api.get(f"{CRONJOBS}/{name}")


def events(api: Api, name: str = "hello") -> list[tuple[str, str, str]]:
    items = api.get(f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name={name}")["items"]
    return [(e["type"], e["reason"], e["message"]) for e in items]


def next_minute(clock: FakeClock) -> int:
    """Step the clock past the next whole minute; answers that minute (since the epoch)."""
    now = clock.now()
    clock.step(60 - now.second + 1)
    return int(now.timestamp()) // 60 + 1


def complete(api: Api, job_name: str) -> None:
    """Let the Job's pod succeed (the Job controller runs too), and wait for the Job to complete."""
    pods = eventually(lambda: api.get(f"{PODS}?labelSelector=job-name={job_name}")["items"])
    finish_pod(api, "default", pods[0]["metadata"]["name"])
    eventually(lambda: any(c["type"] == "Complete" for c in api.get(f"{JOBS}/{job_name}")["status"].get("conditions") or ()))


def test_cronjob_runs_a_job_each_scheduled_time(kubectl, api, clock):
    create(kubectl, api, clock)
    assert jobs(api) == []

    minute = next_minute(clock)
    (name,) = job_names(api, 1)
    assert name == f"hello-{minute}"
    job = api.get(f"{JOBS}/{name}")
    scheduled = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == scheduled
    assert job["metadata"]["labels"]["app"] == "hello"
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("CronJob", "hello", True)

    status = eventually(lambda: cronjob(api)["status"] if cronjob(api)["status"].get("active") else None)
    assert [a["name"] for a in status["active"]] == [name] and status["lastScheduleTime"] == scheduled
    assert status["active"][0]["kind"] == "Job" and status["active"][0]["apiVersion"] == "batch/v1"
    row = kubectl("get", "cronjobs", "--no-headers").split()
    assert row[:6] == ["hello", "*", "*", "*", "*", "*"] and row[6:9] == ["<none>", "False", "1"]

    complete(api, name)
    done = eventually(lambda: (s := cronjob(api)["status"]).get("lastSuccessfulTime") and s)
    assert "active" not in done
    assert done["lastSuccessfulTime"] == api.get(f"{JOBS}/{name}")["status"]["completionTime"]
    eventually(lambda: ("Normal", "SuccessfulCreate", f"Created job {name}") in events(api))
    eventually(lambda: ("Normal", "SawCompletedJob", f"Saw completed job: {name}, status: Complete") in events(api))

    second = next_minute(clock)
    assert job_names(api, 2) == [name, f"hello-{second}"]


def test_forbid_skips_a_run_while_one_is_active(kubectl, api, clock):
    create(kubectl, api, clock, concurrencyPolicy="Forbid")
    next_minute(clock)
    (first,) = job_names(api, 1)
    eventually(lambda: cronjob(api)["status"].get("active"))
    next_minute(clock)
    eventually(lambda: ("Normal", "JobAlreadyActive",
                        "Not starting job because prior execution is running and concurrency policy is Forbid")
               in events(api))
    assert job_names(api, 1) == [first]


def test_replace_deletes_the_running_job(kubectl, api, clock):
    create(kubectl, api, clock, concurrencyPolicy="Replace")
    next_minute(clock)
    (first,) = job_names(api, 1)
    eventually(lambda: cronjob(api)["status"].get("active"))
    minute = next_minute(clock)
    eventually(lambda: [j["metadata"]["name"] for j in jobs(api)] == [f"hello-{minute}"])
    assert f"hello-{minute}" != first
    eventually(lambda: [a["name"] for a in cronjob(api)["status"].get("active") or ()] == [f"hello-{minute}"])
    eventually(lambda: ("Normal", "SuccessfulDelete", f"Deleted job {first}") in events(api))


def test_history_limit_deletes_the_oldest_finished_jobs(kubectl, api, clock):
    create(kubectl, api, clock, successfulJobsHistoryLimit=1)
    names = []
    for count in (1, 2):
        next_minute(clock)
        names = job_names(api, count)
        complete(api, names[-1])
    # the newer completed Job stays, the older is deleted
    assert job_names(api, 1) == names[-1:]
    eventually(lambda: ("Normal", "SuccessfulDelete", f"Deleted job {names[0]}") in events(api))


def test_suspended_cronjob_starts_nothing_until_resumed(kubectl, api, clock):
    create(kubectl, api, clock, suspend=True)
    next_minute(clock)
    missed = next_minute(clock)
    eventually(lambda: cronjob(api)["metadata"]["generation"] == 1)
    assert jobs(api) == []
    # resumed without a starting deadline, it starts the latest run it missed at once (only that one)
    kubectl("patch", "cronjob", "hello", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    assert job_names(api, 1) == [f"hello-{missed}"]


def test_starting_deadline_drops_runs_missed_by_too_much(kubectl, api, clock):
    create(kubectl, api, clock, schedule="0 * * * *", startingDeadlineSeconds=10)
    now = clock.now()
    clock.step(3600 - now.minute * 60 - now.second + 30)  # 30s past the hour: 20s too late
    clock.step(1)
    eventually(lambda: cronjob(api)["metadata"]["generation"] == 1)
    assert jobs(api) == []
    clock.step(3600 - 31 - 5)  # 5s before the next hour
    clock.step(6)  # 1s after it: in time
    assert len(job_names(api, 1)) == 1


def test_time_zone_and_descriptor(kubectl, api, clock):
    create(kubectl, api, clock, schedule="@hourly", timeZone="Asia/Kolkata")
    now = clock.now()
    # the hour in Kolkata (+05:30) starts at half past the hour in UTC
    # (during minute 30 itself the next one is an hour away: the step must never go back)
    to_half_past = (((30 - now.minute) % 60) * 60 - now.second) % 3600 or 3600
    clock.step(to_half_past + 1)
    (name,) = job_names(api, 1)
    annotation = api.get(f"{JOBS}/{name}")["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert annotation.endswith(":00:00+05:30")
    assert datetime.fromtimestamp(int(name.rsplit("-", 1)[1]) * 60, UTC).minute == 30
    assert "Asia/Kolkata" in kubectl("get", "cronjob", "hello")
