"""Pod controllers (replication controllers, replica sets, deployments, daemon sets, stateful sets),
their revisions and disruption budgets."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api import selectors
from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    SELECTOR,
    Printer,
    column,
    container_cells,
    created,
    meta,
    name,
    spec,
    status,
    template_spec,
)
from timoneiro.api.printers.labels import format_label_selector, format_labels, selector_string

_REPLICA_COLUMNS = (
    NAME,
    column("Desired", "Number of desired pods.", "integer"),
    column("Current", "Number of pods currently running.", "integer"),
    column("Ready", "Number of ready pods.", "integer"),
    AGE, CONTAINERS, IMAGES, SELECTOR,
)


def replication_controller_cells(obj: dict, now: datetime) -> list:
    return [
        *_replica_counts(obj, now),
        *container_cells(template_spec(obj)),
        format_labels(spec(obj).get("selector")),
    ]


def replica_set_cells(obj: dict, now: datetime) -> list:
    return [
        *_replica_counts(obj, now),
        *container_cells(template_spec(obj)),
        format_label_selector(spec(obj).get("selector")),
    ]


def _replica_counts(obj: dict, now: datetime) -> list:
    st = status(obj)
    return [
        name(obj), spec(obj).get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
        since(created(obj), now),
    ]


def deployment_cells(obj: dict, now: datetime) -> list:
    st = status(obj)
    try:
        selector = selector_string(spec(obj).get("selector"))
    except selectors.SelectorError:
        selector = "<invalid>"
    return [
        name(obj),
        f"{st.get('readyReplicas', 0)}/{spec(obj).get('replicas', 0)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
        since(created(obj), now),
        *container_cells(template_spec(obj)),
        selector,
    ]


def daemon_set_cells(obj: dict, now: datetime) -> list:
    st = status(obj)
    return [
        name(obj),
        st.get("desiredNumberScheduled", 0),
        st.get("currentNumberScheduled", 0),
        st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0),
        st.get("numberAvailable", 0),
        format_labels(template_spec(obj).get("nodeSelector")),
        since(created(obj), now),
        *container_cells(template_spec(obj)),
        format_label_selector(spec(obj).get("selector")),
    ]


def stateful_set_cells(obj: dict, now: datetime) -> list:
    return [
        name(obj),
        f"{status(obj).get('readyReplicas', 0)}/{spec(obj).get('replicas', 0)}",
        since(created(obj), now),
        *container_cells(template_spec(obj)),
    ]


def controller_revision_cells(obj: dict, now: datetime) -> list:
    owner = next((r for r in meta(obj).get("ownerReferences") or [] if r.get("controller")), None)
    controller = "<none>"
    if owner is not None:
        api_version = owner.get("apiVersion", "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        kind = owner.get("kind", "")
        qualified = f"{kind}.{group}" if group else kind
        controller = f"{qualified.lower()}/{owner.get('name', '')}" if kind or group else owner.get("name", "")
    return [name(obj), controller, obj.get("revision", 0), since(created(obj), now)]


def pod_disruption_budget_cells(obj: dict, now: datetime) -> list:
    budget = spec(obj)
    return [
        name(obj),
        _int_or_string(budget.get("minAvailable")),
        _int_or_string(budget.get("maxUnavailable")),
        status(obj).get("disruptionsAllowed", 0),
        since(created(obj), now),
    ]


def _int_or_string(value: object) -> str:
    return "N/A" if value is None else str(value)


PRINTERS = {
    ("", "ReplicationController"): Printer(_REPLICA_COLUMNS, replication_controller_cells),
    ("apps", "ReplicaSet"): Printer(_REPLICA_COLUMNS, replica_set_cells),
    ("apps", "Deployment"): Printer(
        (
            NAME,
            column("Ready", "Ready pods out of desired pods."),
            column("Up-to-date", "Pods running the newest template."),
            column("Available", "Pods available to serve."),
            AGE, CONTAINERS, IMAGES, SELECTOR,
        ),
        deployment_cells,
    ),
    ("apps", "DaemonSet"): Printer(
        (
            NAME,
            column("Desired", "Nodes that should run the daemon pod.", "integer"),
            column("Current", "Nodes running at least one daemon pod.", "integer"),
            column("Ready", "Nodes whose daemon pod is ready.", "integer"),
            column("Up-to-date", "Nodes running the newest daemon pod.", "integer"),
            column("Available", "Nodes whose daemon pod is available.", "integer"),
            column("Node Selector", "Labels a node needs to run the daemon pod."),
            AGE, CONTAINERS, IMAGES, SELECTOR,
        ),
        daemon_set_cells,
    ),
    ("apps", "StatefulSet"): Printer(
        (NAME, column("Ready", "Ready pods out of desired pods."), AGE, CONTAINERS, IMAGES),
        stateful_set_cells,
    ),
    ("apps", "ControllerRevision"): Printer(
        (
            NAME,
            column("Controller", "The controller owning this revision."),
            column("Revision", "The revision number."),
            AGE,
        ),
        controller_revision_cells,
    ),
    ("policy", "PodDisruptionBudget"): Printer(
        (
            NAME,
            column("Min Available", "Pods that must stay available."),
            column("Max Unavailable", "Pods that may be unavailable."),
            column("Allowed Disruptions", "Pods that may be disrupted now.", "integer"),
            AGE,
        ),
        pod_disruption_budget_cells,
    ),
}
