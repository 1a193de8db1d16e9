"""PatchCore [Roth et al. 2022] on point-cloud patch features."""
