# The notifications table, for the notifications service's DynamoDB store (by configuration:
# PANTHERA_NOTIFICATIONS__STORE=dynamodb; SQL remains the default). The same keys and indexes
# as `panthera notifications create-table` (src/panthera/services/notifications/dynamodb_table.py;
# docs/notifications.md explains each access and its cost).
resource "aws_dynamodb_table" "notifications" {
  name                        = "${var.name}-notifications"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = true

  attribute {
    name = "id"
    type = "S"
  }
  attribute {
    name = "user_id"
    type = "S"
  }
  attribute {
    name = "created"
    type = "S"
  }
  attribute {
    name = "time_shard"
    type = "S"
  }
  attribute {
    name = "due_shard"
    type = "S"
  }
  attribute {
    name = "next_attempt_at"
    type = "S"
  }

  # A customer's listing: one partition, newest first.
  global_secondary_index {
    name            = "by-user"
    hash_key        = "user_id"
    range_key       = "created"
    projection_type = "ALL"
  }

  # The admin's listing across all users: the shards merged, newest first.
  global_secondary_index {
    name               = "by-time"
    hash_key           = "time_shard"
    range_key          = "created"
    projection_type    = "INCLUDE"
    non_key_attributes = ["channel"]
  }

  # Sparse: only queued notifications have next_attempt_at; the sender claims from here.
  global_secondary_index {
    name            = "due"
    hash_key        = "due_shard"
    range_key       = "next_attempt_at"
    projection_type = "KEYS_ONLY"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}
