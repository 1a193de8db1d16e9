"""DevNet [Pang et al. 2019] on frozen Point-MAE / Point-BERT tokens (000_59f5340ba3ca2db6 baselines)."""
