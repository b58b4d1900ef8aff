"""client-go's event correlation, as the shared recorder applies it: repeats become counts, many similar
events one combined event, and a source's events about one object are rate-limited."""

from __future__ import annotations

from timoneiro.client.event_correlator import COMBINED, EventCorrelator, timestamp


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def event(message: str, *, reason: str = "Pulled", name: str = "web", field_path: str = "spec.containers{app}",
          when: float = 1_700_000_000.0, seq: int = 0) -> dict:
    ref = {"kind": "Pod", "apiVersion": "v1", "namespace": "default", "name": name, "uid": f"uid-{name}",
           "fieldPath": field_path}
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.{seq:x}", "namespace": "default"},
            "involvedObject": ref, "reason": reason, "message": message, "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"}, "count": 1,
            "firstTimestamp": timestamp(when), "lastTimestamp": timestamp(when),
            "reportingComponent": "kubelet", "reportingInstance": "node-1"}


def test_a_repeat_patches_the_count_of_the_first():
    clock = Clock()
    correlator = EventCorrelator(clock)
    first = correlator.correlate(event("Started container app", reason="Started", seq=1))
    assert first.patch is None and first.event["count"] == 1
    clock.now += 90
    again = correlator.correlate(event("Started container app", reason="Started", when=clock.now, seq=2))
    assert again.event["metadata"]["name"] == "web.1"
    assert again.event["count"] == 2 and again.event["firstTimestamp"] == first.event["firstTimestamp"]
    assert again.patch == {"count": 2, "lastTimestamp": timestamp(clock.now), "message": "Started container app"}
    # another container of the pod is another event
    other = correlator.correlate(event("Started container app", reason="Started", field_path="spec.containers{b}",
                                       seq=3))
    assert other.patch is None and other.event["metadata"]["name"] == "web.3"


def test_ten_similar_messages_are_combined():
    correlator = EventCorrelator(Clock())
    written = [correlator.correlate(event(f"Successfully pulled image in {i}ms", seq=i)) for i in range(12)]
    assert all(w.patch is None and not w.event["message"].startswith(COMBINED) for w in written[:9])
    combined = written[9]
    assert combined.patch is None and combined.event["message"] == COMBINED + "Successfully pulled image in 9ms"
    assert combined.event["count"] == 1 and combined.event["reason"] == "Pulled"
    later = written[10]
    assert later.patch is not None and later.event["metadata"]["name"] == combined.event["metadata"]["name"]
    assert later.event["count"] == 2 and later.event["message"] == COMBINED + "Successfully pulled image in 10ms"
    assert written[11].event["count"] == 3
    # another reason about the same pod is not combined with these
    assert correlator.correlate(event("Created container: app", reason="Created", seq=20)).event["message"] == \
        "Created container: app"


def test_similar_messages_far_apart_are_not_combined():
    clock = Clock()
    correlator = EventCorrelator(clock)
    for i in range(9):
        correlator.correlate(event(f"message {i}", seq=i))
    clock.now += 601
    assert correlator.correlate(event("message 9", seq=9)).event["message"] == "message 9"


def test_a_source_may_burst_25_events_about_an_object_then_one_every_five_minutes():
    clock = Clock()
    correlator = EventCorrelator(clock)
    results = [correlator.correlate(event("Liveness probe failed: ", reason="Unhealthy", seq=i)) for i in range(30)]
    assert all(r is not None for r in results[:25]) and all(r is None for r in results[25:])
    assert results[24].event["count"] == 25
    assert correlator.correlate(event("about another pod", name="other", seq=99)) is not None
    clock.now += 300
    allowed = correlator.correlate(event("Liveness probe failed: ", reason="Unhealthy", seq=31))
    assert allowed is not None and allowed.event["count"] == 31  # the dropped ones were counted all the same
    assert correlator.correlate(event("Liveness probe failed: ", reason="Unhealthy", seq=32)) is None
