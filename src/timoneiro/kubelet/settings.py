"""The kubelet's tunables, upstream's KubeletConfiguration defaults unless said otherwise."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KubeletSettings:
    node_status_update_frequency: float = 10.0  # how often the node's status is worked out (and posted if changed)
    # how often it is posted even when unchanged: the Lease is the heartbeat, so thousands of nodes do not
    # each write their status every 10s
    node_status_report_frequency: float = 300.0
    node_lease_duration_seconds: int = 40  # renewed every quarter of this
    relist_period: float = 1.0  # PLEG relist of a runtime without container events
    evented_relist_period: float = 300.0  # ... and of one with them (upstream's evented PLEG)
    # upstream's syncFrequency: how often a running pod's volumes made from the API (configMap, secret,
    # downwardAPI, projected) are written again, so that updates and fresh tokens reach its containers
    volume_resync_period: float = 60.0
    backoff_initial: float = 10.0  # container restart back-off: doubles from this
    backoff_max: float = 300.0  # up to this; reset after a container ran 2 * this without failing
    status_writers: int = 4  # pod status writes in flight at once
    event_record_qps: float = 50.0  # events written a second at most (upstream's eventRecordQPS) ...
    event_burst: int = 100  # ... after a burst of this many (eventBurst)
    # pod status writes and node requests are retried after this long at first, doubling
    retry_initial: float = 0.2
    retry_max: float = 7.0
