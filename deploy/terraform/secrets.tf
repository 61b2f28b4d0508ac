# What the External Secrets option (deploy/kubernetes/components/external-secrets) reads:
#   <name>/runtime          database host, Redis URL (with its AUTH token), NATS URL, SMTP URL
#   <name>/jwt-signing-key  the users service's Ed25519 key; its value is put by an operator
#                           (docs/deploy.md), so the private key never enters Terraform's state
# The database password is RDS's own secret (aws_db_instance.main.master_user_secret).
variable "nats_url" {
  description = "NATS JetStream as the services reach it (the NATS Helm chart in the nats namespace)."
  type        = string
  default     = "nats://nats.nats.svc.cluster.local:4222"
}

variable "smtp_url" {
  description = "smtp://user:password@host:587 of the mail provider; empty keeps mail in the pod (testing only)."
  type        = string
  default     = ""
  sensitive   = true
}

resource "aws_secretsmanager_secret" "runtime" {
  # checkov:skip=CKV2_AWS_57:Assembled from other resources' values; Terraform rewrites it when they change (the Redis token rotates by changing random_password.redis_auth).
  name       = "${var.name}/runtime"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "runtime" {
  secret_id = aws_secretsmanager_secret.runtime.id
  secret_string = jsonencode({
    database_host = aws_db_instance.main.address
    redis_url     = "rediss://:${random_password.redis_auth.result}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379/0"
    nats_url      = var.nats_url
    smtp_url      = var.smtp_url
  })
}

resource "aws_secretsmanager_secret" "signing_key" {
  # checkov:skip=CKV2_AWS_57:Rotating the signing key is a deliberate operation (publish the new key in the JWKS, then sign with it), not an automatic one.
  name       = "${var.name}/jwt-signing-key"
  kms_key_id = aws_kms_key.main.arn
}
