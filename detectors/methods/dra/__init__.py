"""DRA [Ding et al. 2022] on frozen Point-MAE / Point-BERT tokens (000_59f5340ba3ca2db6 baselines)."""
