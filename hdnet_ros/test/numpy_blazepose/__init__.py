"""The 3D stage's glue as main had it, the references the faster forms are tested against."""
