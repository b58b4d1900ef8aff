"""An EKS-compatible service: the EKS REST-JSON API (and the Auto Scaling and STS calls around it) that the
real `aws` CLI and boto3 speak with `--endpoint-url`, whose clusters are real timoneiro control planes and
whose node groups are real timoneiro nodes."""
