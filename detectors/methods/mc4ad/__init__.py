"""MC4AD (004_be09d63770e75756) and PO3AD: offset prediction on sparse voxels."""
