# IAM roles for service accounts (IRSA), each the least a process needs:
#   catalog        -> media/ in the bucket (product images, variants); the media worker too
#   notifications  -> the notifications table
#   backup         -> backups/ in the bucket (the backup CronJob, when it lands)
#   ebs-csi        -> EBS volumes (NATS JetStream's storage)
# Nothing else in the cluster has AWS permissions.
locals {
  oidc_issuer = replace(aws_iam_openid_connect_provider.cluster.url, "https://", "")
}

data "aws_iam_policy_document" "irsa_trust" {
  for_each = {
    catalog = [
      "system:serviceaccount:${var.kubernetes_namespace}:catalog",
      "system:serviceaccount:${var.kubernetes_namespace}:media-worker",
    ]
    notifications = ["system:serviceaccount:${var.kubernetes_namespace}:notifications"]
    backup        = ["system:serviceaccount:${var.kubernetes_namespace}:backup"]
    ebs_csi       = ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
  }
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = each.value
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "catalog" {
  name               = "${var.name}-catalog"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust["catalog"].json
}

resource "aws_iam_role_policy" "catalog" {
  name   = "media"
  role   = aws_iam_role.catalog.id
  policy = data.aws_iam_policy_document.bucket_prefix["media"].json
}

resource "aws_iam_role" "backup" {
  name               = "${var.name}-backup"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust["backup"].json
}

resource "aws_iam_role_policy" "backup" {
  name   = "backups"
  role   = aws_iam_role.backup.id
  policy = data.aws_iam_policy_document.bucket_prefix["backups"].json
}

data "aws_iam_policy_document" "bucket_prefix" {
  for_each = toset(["media", "backups"])
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.main.arn}/${each.key}/*"]
  }
  statement {
    sid       = "List"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.main.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${each.key}/*"]
    }
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role" "notifications" {
  name               = "${var.name}-notifications"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust["notifications"].json
}

resource "aws_iam_role_policy" "notifications" {
  name   = "notifications-table"
  role   = aws_iam_role.notifications.id
  policy = data.aws_iam_policy_document.notifications.json
}

data "aws_iam_policy_document" "notifications" {
  statement {
    sid = "Table"
    actions = [
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
      "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
    ]
    resources = [aws_dynamodb_table.notifications.arn, "${aws_dynamodb_table.notifications.arn}/index/*"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role" "ebs_csi" {
  name               = "${var.name}-ebs-csi"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust["ebs_csi"].json
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}
