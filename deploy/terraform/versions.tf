# Providers pinned exactly: a plan made today is the plan made next year.
# `terraform init` writes .terraform.lock.hcl with their checksums: commit it.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.80.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "4.0.6"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "panthera"
      ManagedBy = "terraform"
    }
  }
}
