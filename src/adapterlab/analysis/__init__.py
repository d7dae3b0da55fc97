"""Analyses as pure functions (arrays in, numbers out) plus thin loaders: RSA, CKA, cross-lingual."""
