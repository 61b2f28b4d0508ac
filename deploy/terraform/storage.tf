# One bucket for product media (media/) and backups (backups/): encrypted with the KMS key,
# versioned, never public. CloudFront serves media/ to browsers through an origin access
# control; backups/ is reachable only by the backup role.
locals {
  bucket = "${var.name}-${data.aws_caller_identity.current.account_id}-${var.region}"
}

resource "aws_s3_bucket" "main" {
  # checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice (and a second region's cost) left to each team; versioning and RDS snapshots cover accidents.
  # checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: the media worker is fed by NATS.
  bucket = local.bucket
}

resource "aws_s3_bucket_public_access_block" "main" {
  bucket                  = aws_s3_bucket.main.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "main" {
  bucket = aws_s3_bucket.main.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "main" {
  bucket = aws_s3_bucket.main.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "main" {
  bucket = aws_s3_bucket.main.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "main" {
  bucket = aws_s3_bucket.main.id

  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "backups"
    status = "Enabled"
    filter {
      prefix = "backups/"
    }
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = 365
    }
  }
}

resource "aws_s3_bucket_logging" "main" {
  bucket        = aws_s3_bucket.main.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/"
}

resource "aws_s3_bucket_policy" "main" {
  bucket     = aws_s3_bucket.main.id
  policy     = data.aws_iam_policy_document.bucket.json
  depends_on = [aws_s3_bucket_public_access_block.main]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.main.arn, "${aws_s3_bucket.main.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "CloudFrontReadsMedia"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.main.arn}/media/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.media.arn]
    }
  }
}

# Access logs of the bucket. S3 server access logging accepts only SSE-S3 on its target.
resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18:This is the log bucket: logging its own access would loop.
  # checkov:skip=CKV_AWS_144:Access logs are not replicated to a second region.
  # checkov:skip=CKV_AWS_145:S3 server access logging cannot write to a bucket encrypted with SSE-KMS; it uses SSE-S3.
  # checkov:skip=CKV2_AWS_62:Nothing consumes log bucket events.
  bucket = "${local.bucket}-logs"
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# Media to browsers, cached at the edge of AWS's network.
resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_cloudfront_cache_policy" "optimized" {
  name = "Managed-CachingOptimized"
}

data "aws_cloudfront_response_headers_policy" "security" {
  name = "Managed-SecurityHeadersPolicy"
}

resource "aws_cloudfront_distribution" "media" {
  # checkov:skip=CKV_AWS_68:Product images are public and read-only; attach a WAF web ACL (web_acl_id) where a team has one.
  # checkov:skip=CKV2_AWS_47:Follows from CKV_AWS_68: no WAF web ACL is attached by default.
  # checkov:skip=CKV_AWS_86:CloudFront standard logs need a bucket with ACLs enabled, which every bucket here refuses; use CloudFront's real-time logs where needed.
  # checkov:skip=CKV_AWS_310:One origin, a versioned bucket in three zones; a failover origin means a second region.
  # checkov:skip=CKV_AWS_374:A shop sells wherever it chooses; geo restriction is the team's decision.
  # checkov:skip=CKV_AWS_305:No root object: the distribution serves media files by their path only.
  # checkov:skip=CKV_AWS_174:With media_certificate_arn set (production), TLSv1.2_2021 applies; CloudFront's own certificate, the default for a first run, cannot be restricted.
  # checkov:skip=CKV2_AWS_42:A custom certificate needs a domain of the shop's own: media_domain and media_certificate_arn.
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name}: product media"
  price_class     = "PriceClass_100"

  origin {
    origin_id                = "media"
    domain_name              = aws_s3_bucket.main.bucket_regional_domain_name
    origin_path              = "/media"
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  default_cache_behavior {
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  aliases = var.media_domain == null ? [] : [var.media_domain]

  viewer_certificate {
    cloudfront_default_certificate = var.media_certificate_arn == null
    acm_certificate_arn            = var.media_certificate_arn
    ssl_support_method             = var.media_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = "TLSv1.2_2021"
  }
}
