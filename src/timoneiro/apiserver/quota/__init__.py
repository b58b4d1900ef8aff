"""Resource quota accounting shared by the ResourceQuota admission plugin and the resource quota controller
(upstream's pkg/quota): how much of each quota resource an object uses, and the sums and comparisons over
resource lists."""
