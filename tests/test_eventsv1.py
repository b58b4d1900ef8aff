"""The events.k8s.io/v1 recorder (kube-scheduler's) against a real API server: every event written, repeats
made a series as client-go's tools/events makes them, series finished after they go quiet, and events kept
for a server that cannot be reached yet."""

from __future__ import annotations

import asyncio
import time

import pytest

from timoneiro.apiserver.server import free_port
from timoneiro.client import Client, eventsv1
from timoneiro.client.eventsv1 import EventRecorder
from timoneiro.client.resources import CONFIGMAPS, EVENTS_V1


async def written(client: Client, name: str) -> list[dict]:
    """The events about object `name`, once the recorder has written them."""
    deadline = time.monotonic() + 15
    while True:
        items = [e for e in (await client.list(EVENTS_V1, "default"))["items"] if e["regarding"]["name"] == name]
        if items or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.05)


async def settled(recorder: EventRecorder) -> None:
    while recorder.pending:
        await asyncio.sleep(0.01)


@pytest.fixture
async def subject(client: Client) -> dict:
    return await client.create(CONFIGMAPS, {"metadata": {"name": "subject"}}, "default")


async def test_each_event_is_written_whole(client, subject):
    recorder = EventRecorder(client, "default-scheduler", "default-scheduler-host")
    related = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other", "namespace": "default",
                                                               "uid": "u-1"}}
    recorder.event(subject, "Normal", "Scheduled", "Binding", "first", related)
    for i in range(50):
        recorder.event({**subject, "metadata": {**subject["metadata"], "name": f"obj-{i}"}},
                       "Normal", "Scheduled", "Binding", "many")
    await settled(recorder)
    [event] = await written(client, "subject")
    assert (event["reason"], event["action"], event["type"], event["note"]) == ("Scheduled", "Binding", "Normal",
                                                                                "first")
    assert (event["reportingController"], event["reportingInstance"]) == ("default-scheduler",
                                                                          "default-scheduler-host")
    assert event["regarding"] == {"kind": "ConfigMap", "namespace": "default", "name": "subject",
                                  "uid": subject["metadata"]["uid"], "apiVersion": "v1",
                                  "resourceVersion": subject["metadata"]["resourceVersion"]}
    assert event["related"]["name"] == "other" and event["eventTime"].endswith("Z") and "series" not in event
    others = [e for e in (await client.list(EVENTS_V1, "default"))["items"] if e["note"] == "many"]
    assert len(others) == 50 and (recorder.written, recorder.failed) == (51, 0)


async def test_repeats_make_a_series_written_again_when_it_ends(client, subject):
    recorder = EventRecorder(client, "default-scheduler", "i")
    recorder.event(subject, "Warning", "FailedScheduling", "Scheduling", "0/1 nodes are available")
    await settled(recorder)
    [single] = await written(client, "subject")
    assert "series" not in single
    for _ in range(3):  # the first repeat is written; the others only counted until the series ends
        recorder.event(subject, "Warning", "FailedScheduling", "Scheduling", "0/1 nodes are available")
    await settled(recorder)
    [event] = await written(client, "subject")
    assert event["metadata"]["name"] == single["metadata"]["name"] and event["series"]["count"] == 2
    recorder.finish_series(now=time.time() + eventsv1.FINISH_AFTER + 1)  # quiet long enough: its last count
    await settled(recorder)
    [event] = await written(client, "subject")
    assert event["series"]["count"] == 4 and recorder.written == 3
    recorder.event(subject, "Warning", "FailedScheduling", "Scheduling", "0/1 nodes are available")
    await settled(recorder)  # the series was forgotten: this is a new event
    assert len((await client.list(EVENTS_V1, "default"))["items"]) == 2 and recorder.written == 4


async def test_an_unreachable_server_is_tried_again(server, subject, monkeypatch):
    monkeypatch.setattr(eventsv1, "RETRY_AFTER", 0.05)
    async with Client(f"https://127.0.0.1:{free_port()}") as nowhere:
        recorder = EventRecorder(nowhere, "default-scheduler", "i")
        recorder.event(subject, "Normal", "Scheduled", "Binding", "lost")
        deadline = time.monotonic() + 20
        while recorder.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (recorder.written, recorder.failed) == (0, 1)  # after MAX_TRIES attempts
