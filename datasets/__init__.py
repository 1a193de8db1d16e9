"""Datasets: Open-Industry packaging, open-set splits, readers for public formats and the
dataset builder. Imported as ``scan2ad.datasets`` (never as bare ``datasets``).

- ``samples``: the :class:`Sample` table and ``load_sample``.
- ``readers.read_dataset(root, format=None)``: Open-Industry, Real3D-AD, Anomaly-ShapeNet (v1/v2),
  IEC3D-AD (``formats/``), format detected from names.
- ``splits``: open-set split files and ``load_split(root, cls, known, k, seed)``.
- ``package``: manifest.json, stats.csv (Table II of 003), README.md, gallery PNGs.
- ``validate.validate_dataset(root)``: every problem of a dataset folder.
- ``spec`` / ``builder`` / ``defects``: ``scan2ad build`` (cached, resumable unit graph);
  ``pipeline``: its virtual-rig source; ``own_parts``: classes of the user's own meshes, capture
  sessions, reconstructions and hand-labelled real anomalies.
- ``synthetic``: small geometry datasets in seconds (tests).
"""
