# The notifications table, for the notifications service's DynamoDB store (by configuration;
# SQL remains the default). Keys are generic (pk, sk): the service decides what goes in them.
resource "aws_dynamodb_table" "notifications" {
  name                        = "${var.name}-notifications"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = true

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}
