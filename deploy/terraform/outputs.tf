output "cluster_name" {
  description = "aws eks update-kubeconfig --name <this> --region <region>"
  value       = aws_eks_cluster.main.name
}

output "region" {
  value = var.region
}

output "kubernetes_overlay_env" {
  description = "The production overlay's terraform-outputs.env (docs/deploy.md)."
  value       = <<-EOT
    # Written by: terraform output -raw kubernetes_overlay_env
    VPC_CIDR=${aws_vpc.main.cidr_block}
    DATA_SUBNETS_CIDR=${local.data_range}
    CATALOG_ROLE_ARN=${aws_iam_role.catalog.arn}
    NOTIFICATIONS_ROLE_ARN=${aws_iam_role.notifications.arn}
    DATABASE_MASTER_SECRET_ARN=${aws_db_instance.main.master_user_secret[0].secret_arn}
    AWS_REGION=${var.region}
    NOTIFICATIONS_TABLE=${aws_dynamodb_table.notifications.name}
    MEDIA_BUCKET=${aws_s3_bucket.main.bucket}
    MEDIA_BASE_URL=https://${aws_cloudfront_distribution.media.domain_name}/media
  EOT
}

output "database_endpoint" {
  value = aws_db_instance.main.address
}

output "redis_endpoint" {
  value = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "bucket" {
  description = "Product media under media/, backups under backups/."
  value       = aws_s3_bucket.main.bucket
}

output "media_cdn_domain" {
  description = "CloudFront's domain serving media/ of the bucket."
  value       = aws_cloudfront_distribution.media.domain_name
}

output "notifications_table" {
  value = aws_dynamodb_table.notifications.name
}

output "backup_role_arn" {
  description = "For the backup CronJob's service account (backup), when it lands."
  value       = aws_iam_role.backup.arn
}

output "runtime_secret_name" {
  value = aws_secretsmanager_secret.runtime.name
}

output "signing_key_secret_name" {
  value = aws_secretsmanager_secret.signing_key.name
}
