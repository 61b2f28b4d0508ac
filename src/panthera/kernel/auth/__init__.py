"""Auth primitives shared by every service: keys, tokens, passwords, principals."""
