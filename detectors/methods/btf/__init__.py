"""Back to the Feature (BTF) [Horwitz & Hoshen 2023]: Raw and FPFH point features with kNN."""
