"""Hierarchical Quality Control (MC4AD §4.4): a fast model screens, the full model decides."""
