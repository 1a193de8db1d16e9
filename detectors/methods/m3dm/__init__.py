"""M3DM's 3D branch [Wang et al. 2023] and PatchCore on Point-MAE patches (Real3D-AD baselines)."""
