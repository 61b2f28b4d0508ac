# Redis for caches and rate limits: a primary and a replica in two zones with automatic
# failover, encrypted at rest and in transit, behind an AUTH token kept in Secrets Manager.
resource "aws_elasticache_subnet_group" "main" {
  name       = var.name
  subnet_ids = aws_subnet.data[*].id
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis, from the cluster's nodes and pods only"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  count             = 3
  security_group_id = aws_security_group.redis.id
  description       = "Redis from the private subnet in ${local.zones[count.index]}"
  cidr_ipv4         = local.private_subnets[count.index]
  ip_protocol       = "tcp"
  from_port         = 6379
  to_port           = 6379
}

resource "random_password" "redis_auth" {
  length  = 48
  special = false
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = var.name
  description          = "${var.name}: caches and rate limits"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = var.redis_node_type
  num_cache_clusters   = 2
  port                 = 6379

  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth.result

  snapshot_retention_limit   = 7
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade = true
}
