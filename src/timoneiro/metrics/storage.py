"""What metrics-server keeps: each node's and container's last two points, and from them the usage it
serves: cpu as the rate between the two (nanocores), memory as the last working set, the window as the
time between them and the timestamp as the last one's.

A container new since the scrape before counts from its start, with no cpu used then, so that its pod's
metrics come one scrape sooner, as metrics-server's do; a container that started again (a new start time)
or whose counter went back starts over."""

from __future__ import annotations

from dataclasses import dataclass

from timoneiro.metrics.scrape import NodeBatch, Point

ContainerKey = tuple[str, str, str]  # namespace, pod, container


@dataclass(frozen=True)
class Usage:
    timestamp: float
    window: float  # seconds
    nano_cores: int
    memory_bytes: int


def rate(prev: Point, last: Point) -> Usage | None:
    if last.timestamp <= prev.timestamp or last.cpu_seconds < prev.cpu_seconds:
        return None
    window = last.timestamp - prev.timestamp
    cores = (last.cpu_seconds - prev.cpu_seconds) / window
    return Usage(last.timestamp, window, int(cores * 1e9), int(last.memory_bytes))


class Storage:
    def __init__(self) -> None:
        self._nodes: dict[str, tuple[Point | None, Point]] = {}
        self._containers: dict[ContainerKey, tuple[Point | None, Point]] = {}
        self._scraped_at: dict[str, float] = {}  # each node's previous scrape

    def store(self, batches: dict[str, NodeBatch], now: float) -> None:
        """One round of scrapes; nodes (and their containers) that gave nothing are dropped."""
        nodes: dict[str, tuple[Point | None, Point]] = {}
        containers: dict[ContainerKey, tuple[Point | None, Point]] = {}
        for name, batch in batches.items():
            if batch.node is not None:
                nodes[name] = (self._previous(self._nodes.get(name), batch.node), batch.node)
            scraped_before = self._scraped_at.get(name)
            for key, point in batch.containers.items():
                prev = self._previous(self._containers.get(key), point)
                if prev is None and point.started_at is not None and scraped_before is not None \
                        and scraped_before < point.started_at < point.timestamp:
                    prev = Point(point.started_at, 0.0, 0.0, point.started_at)
                containers[key] = (prev, point)
            self._scraped_at[name] = now
        self._nodes, self._containers = nodes, containers
        self._scraped_at = {name: at for name, at in self._scraped_at.items() if name in batches}

    @staticmethod
    def _previous(known: tuple[Point | None, Point] | None, point: Point) -> Point | None:
        """The point to keep before `point`: the last one known, unless it measured something else."""
        if known is None:
            return None
        last = known[1]
        if last.timestamp == point.timestamp:  # the same sample again: keep the pair there was
            return known[0]
        if last.started_at != point.started_at or last.cpu_seconds > point.cpu_seconds:
            return None
        return last

    def node(self, name: str) -> Usage | None:
        known = self._nodes.get(name)
        return rate(*known) if known and known[0] else None

    def pods(self) -> dict[tuple[str, str], dict[str, Usage]]:
        """Each pod's containers that have usage, by (namespace, pod) and container name."""
        found: dict[tuple[str, str], dict[str, Usage]] = {}
        for (ns, pod, container), (prev, last) in self._containers.items():
            if prev is not None and (usage := rate(prev, last)):
                found.setdefault((ns, pod), {})[container] = usage
        return found
