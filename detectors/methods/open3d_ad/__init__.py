"""Open3D-AD (000_59f5340ba3ca2db6 §IV): dual memory banks with Correspondence Distributions
Subsampling and reweighted scoring."""
