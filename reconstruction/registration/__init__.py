"""Registration: rigid-transform algebra, FRICP (fine), S4PCS (coarse), multi-view alignment."""
