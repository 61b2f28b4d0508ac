"""The shared kernel: plumbing every service needs, and no business logic."""
