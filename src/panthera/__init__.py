"""PantheraConnect: an e-commerce backend built as microservices."""

__version__ = "0.1.0"
