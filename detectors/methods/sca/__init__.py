"""SCA: spatial context aggregation + selective anomalous feature generation (seed 001_1a0643aab4434808)."""
