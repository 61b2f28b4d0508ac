"""The platform's services; each is independent of the others."""
