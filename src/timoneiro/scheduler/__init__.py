"""kube-scheduler: a scheduling queue, a snapshot of the nodes, and a framework of plugins at fixed extension
points that filter and score nodes for each pending pod, then bind it to the best one."""

from timoneiro.scheduler.scheduler import Scheduler

__all__ = ["Scheduler"]
