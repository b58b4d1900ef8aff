"""The in-tree plugins, and kube-scheduler's default profile: which run, in what order, with what score weight."""

from __future__ import annotations

from timoneiro.scheduler.framework import PluginFactory
from timoneiro.scheduler.plugins.balancedallocation import BalancedAllocation
from timoneiro.scheduler.plugins.defaultbinder import DefaultBinder
from timoneiro.scheduler.plugins.defaultpreemption import DefaultPreemption
from timoneiro.scheduler.plugins.interpodaffinity import InterPodAffinity
from timoneiro.scheduler.plugins.nodeaffinity import NodeAffinity
from timoneiro.scheduler.plugins.nodename import NodeName
from timoneiro.scheduler.plugins.nodeports import NodePorts
from timoneiro.scheduler.plugins.noderesources import NodeResourcesFit
from timoneiro.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from timoneiro.scheduler.plugins.podtopologyspread import PodTopologySpread
from timoneiro.scheduler.plugins.queuesort import PrioritySort
from timoneiro.scheduler.plugins.schedulinggates import SchedulingGates
from timoneiro.scheduler.plugins.tainttoleration import TaintToleration


def default_plugins() -> list[tuple[PluginFactory, int]]:
    """(plugin, score weight): the filter order is this order, as in upstream's default profile."""
    return [
        (SchedulingGates, 0),
        (PrioritySort, 0),
        (NodeUnschedulable, 0),
        (NodeName, 0),
        (TaintToleration, 3),
        (NodeAffinity, 2),
        (NodePorts, 0),
        (NodeResourcesFit, 1),
        (PodTopologySpread, 2),
        (InterPodAffinity, 2),
        (DefaultPreemption, 0),
        (BalancedAllocation, 1),
        (DefaultBinder, 0),
    ]
