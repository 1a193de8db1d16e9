"""Test helpers: generators of small inputs with known ground truth."""
