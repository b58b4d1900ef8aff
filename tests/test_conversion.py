"""Conversions between versions sharing storage: HPA autoscaling/v1 <-> v2, Event events.k8s.io <-> core."""

from __future__ import annotations

import copy
import json

from timoneiro.api import conversion, defaults

TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU_60 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
PODS_QPS = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}
EXTERNAL_QUEUE = {"type": "External", "external": {
    "metric": {"name": "queue", "selector": {"matchLabels": {"z": "1", "a": "2"}}},
    "target": {"type": "Value", "value": "10"}}}
OBJECT_RPS = {"type": "Object", "object": {
    "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
    "target": {"type": "Value", "value": "2000"}, "metric": {"name": "rps"}}}
CONDITION = {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z",
             "reason": "ReadyForNewScale", "message": "recommended size matches current size"}


def v1_hpa(**spec: object) -> dict:
    return {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": TARGET, "maxReplicas": 5, **spec}}


def test_hpa_v1_round_trip():
    sent = v1_hpa(targetCPUUtilizationPercentage=50)
    defaults.apply("autoscaling", "HorizontalPodAutoscaler", sent)
    stored = conversion.hpa_v1_to_v2(sent)
    assert stored == {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 5, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu",
                                              "target": {"type": "Utilization", "averageUtilization": 50}}}]},
        "status": {"desiredReplicas": 0, "currentMetrics": None},
    }
    assert conversion.hpa_v2_to_v1(stored) == {
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    }


def test_hpa_v1_without_target_gets_80_percent_cpu():
    stored = conversion.hpa_v1_to_v2(v1_hpa())
    assert stored["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert conversion.hpa_v2_to_v1(stored)["spec"]["targetCPUUtilizationPercentage"] == 80


def stored_v2() -> dict:
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
           "spec": {"scaleTargetRef": TARGET, "maxReplicas": 5,
                    "metrics": [CPU_60, PODS_QPS, EXTERNAL_QUEUE, OBJECT_RPS],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}},
           "status": {"currentReplicas": 2, "desiredReplicas": 3, "conditions": [CONDITION], "currentMetrics": [
               {"type": "Resource", "resource": {"name": "cpu",
                                                 "current": {"averageValue": "250m", "averageUtilization": 70}}}]}}
    defaults.apply("autoscaling", "HorizontalPodAutoscaler", hpa)
    return hpa


def test_hpa_v1_keeps_what_it_cannot_express_in_annotations():
    v1 = conversion.hpa_v2_to_v1(stored_v2())
    assert v1["spec"] == {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 5,
                          "targetCPUUtilizationPercentage": 60}
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 70}
    annotations = v1["metadata"]["annotations"]
    assert annotations["team"] == "a"
    assert annotations["autoscaling.alpha.kubernetes.io/metrics"] == (
        '[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k"}},'
        '{"type":"External","external":{"metricName":"queue","metricSelector":{"matchLabels":{"a":"2","z":"1"}},'
        '"targetValue":"10"}},'
        '{"type":"Object","object":{"target":{"kind":"Ingress","name":"main","apiVersion":"networking.k8s.io/v1"},'
        '"metricName":"rps","targetValue":"2k"}}]'
    )
    assert annotations["autoscaling.alpha.kubernetes.io/current-metrics"] == (
        '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":70,"currentAverageValue":"250m"}}]'
    )
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/conditions"]) == [CONDITION]
    assert annotations["autoscaling.alpha.kubernetes.io/behavior"] == (
        '{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":['
        '{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}]},'
        '"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Max","Policies":['
        '{"Type":"Percent","Value":100,"PeriodSeconds":15}]}}'
    )


def test_hpa_v2_survives_a_v1_read_modify_write():
    original = stored_v2()
    v1 = conversion.hpa_v2_to_v1(original)
    v1["spec"]["maxReplicas"] = 7
    stored = conversion.hpa_v1_to_v2(v1)
    expected = copy.deepcopy(original)
    expected["spec"]["maxReplicas"] = 7
    # as upstream, the metrics carried in the annotation come first and the CPU target after them
    expected["spec"]["metrics"] = [PODS_QPS, EXTERNAL_QUEUE, {**OBJECT_RPS, "object": {
        **OBJECT_RPS["object"], "target": {"type": "Value", "value": "2k"}}}, CPU_60]
    assert stored["metadata"] == {"name": "web", "namespace": "default", "annotations": {"team": "a"}}
    assert stored["spec"] == expected["spec"]
    assert stored["status"] == expected["status"]


def test_hpa_round_trip_annotations_sent_to_v1_are_replaced():
    hpa = v1_hpa(targetCPUUtilizationPercentage=50)
    hpa["metadata"]["annotations"] = {"autoscaling.alpha.kubernetes.io/metrics": "not json"}
    stored = conversion.hpa_v1_to_v2(hpa)
    assert "annotations" not in stored["metadata"]
    assert "annotations" not in conversion.hpa_v2_to_v1(stored)["metadata"]


def test_hpa_v1_behavior_annotation_is_read_case_insensitively_and_defaulted():
    hpa = v1_hpa()
    hpa["metadata"]["annotations"] = {"autoscaling.alpha.kubernetes.io/behavior": '{"scaleUp":{"selectPolicy":"Min"}}'}
    behavior = conversion.hpa_v1_to_v2(hpa)["spec"]["behavior"]
    assert behavior["scaleUp"]["selectPolicy"] == "Min"
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleDown"] == {"selectPolicy": "Max",
                                     "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


EVENTS_EVENT = {
    "apiVersion": "events.k8s.io/v1", "kind": "Event",
    "metadata": {"name": "web.17c", "namespace": "default"},
    "eventTime": "2024-05-01T10:00:00.000000Z",
    "series": {"count": 3, "lastObservedTime": "2024-05-01T10:05:00.000000Z"},
    "reportingController": "example.com/scaler",
    "reportingInstance": "scaler-1",
    "action": "Scale",
    "reason": "Scaled",
    "regarding": {"kind": "Deployment", "namespace": "default", "name": "web", "apiVersion": "apps/v1"},
    "related": {"kind": "Pod", "namespace": "default", "name": "web-1"},
    "note": "scaled up to 3",
    "type": "Normal",
    "deprecatedSource": {},
    "deprecatedFirstTimestamp": None,
    "deprecatedLastTimestamp": None,
}


def test_events_k8s_io_event_round_trip():
    core = conversion.event_events_to_core(EVENTS_EVENT)
    assert core == {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.17c", "namespace": "default"},
        "involvedObject": {"kind": "Deployment", "namespace": "default", "name": "web", "apiVersion": "apps/v1"},
        "reason": "Scaled",
        "message": "scaled up to 3",
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": "Normal",
        "eventTime": "2024-05-01T10:00:00.000000Z",
        "series": {"count": 3, "lastObservedTime": "2024-05-01T10:05:00.000000Z"},
        "action": "Scale",
        "related": {"kind": "Pod", "namespace": "default", "name": "web-1"},
        "reportingComponent": "example.com/scaler",
        "reportingInstance": "scaler-1",
    }
    assert conversion.event_core_to_events(core) == EVENTS_EVENT


def test_core_event_as_events_k8s_io():
    core = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "p.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Pulled", "message": "pulled image", "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:01:00Z", "count": 2,
            "type": "Normal"}
    events = conversion.event_core_to_events(core)
    assert events == {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "p.1", "namespace": "default"},
        "eventTime": None,
        "reason": "Pulled",
        "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        "note": "pulled image",
        "type": "Normal",
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z",
        "deprecatedLastTimestamp": "2024-05-01T10:01:00Z",
        "deprecatedCount": 2,
    }
    back = conversion.event_events_to_core(events)
    assert back == {**core, "eventTime": None, "reportingComponent": "", "reportingInstance": ""}
    assert events["regarding"] is not core["involvedObject"]  # a new object, not a view of the input
