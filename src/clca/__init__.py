"""clca — cultural-learning-based culture adaptation of language models (CLCA, ACL 2025)."""

__version__ = "0.1.0"
