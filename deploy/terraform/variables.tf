variable "region" {
  description = "AWS region; its first three availability zones are used."
  type        = string
  default     = "eu-west-1"
}

variable "availability_zones" {
  description = "Three zones of the region: subnets, nodes and replicas spread over them."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "Name exactly three availability zones."
  }
}

variable "media_domain" {
  description = "A domain of yours for product media (e.g. media.shop.example); null uses CloudFront's."
  type        = string
  default     = null
}

variable "media_certificate_arn" {
  description = "ACM certificate (in us-east-1) for media_domain; required with it."
  type        = string
  default     = null
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "panthera"
}

variable "kubernetes_namespace" {
  description = "Namespace of the production overlay: service accounts there get AWS roles."
  type        = string
  default     = "panthera"
}

variable "vpc_cidr" {
  description = "The VPC's range; subnets are carved from it (see network.tf)."
  type        = string
  default     = "10.0.0.0/16"
}

variable "kubernetes_version" {
  description = "EKS control plane version."
  type        = string
  default     = "1.31"
}

variable "cluster_admin_cidrs" {
  description = "Networks allowed to reach the EKS API endpoint from outside the VPC; empty keeps it private."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_count" {
  description = "Nodes: desired, min and max (at least one per zone)."
  type        = object({ desired = number, min = number, max = number })
  default     = { desired = 3, min = 3, max = 9 }
}

variable "database_instance_class" {
  description = "RDS PostgreSQL instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "database_storage_gb" {
  description = "Initial storage; it grows automatically up to ten times this."
  type        = number
  default     = 50
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m6g.large"
}

variable "log_retention_days" {
  description = "Retention of the VPC flow logs and the EKS control plane logs."
  type        = number
  default     = 365
}
