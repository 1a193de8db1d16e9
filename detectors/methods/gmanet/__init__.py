"""GMANet (003_15f016e519109ec7): SPCG synthesis, expert/apprentice PointNet++, SDO."""
