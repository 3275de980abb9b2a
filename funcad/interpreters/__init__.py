"""Interpreters over primitives and jaxprs: ad (jvp, linearize, transpose), batching,
partial_eval (staging)."""
