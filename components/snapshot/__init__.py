"""snapshot_source: the immutable identity of what a URI holds now, for KFP's cache key."""
