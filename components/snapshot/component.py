"""The snapshot_source KFP component: a typed signature over components.snapshot.snapshot."""

from kfp import dsl

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def snapshot_source(location: str) -> str:
    """Pin what a URI holds now to an immutable identity, for the cache keys of later steps.

    Run it with caching off and pass its output to the cached steps that read `location`: their
    cache key then changes exactly when the content does (see components/snapshot/snapshot.py
    for what identifies S3 objects, S3 prefixes, local files and folders).

    Args:
        location: Local path, file:// or s3:// URI of a file or a folder/prefix; empty gives an
            empty fingerprint (nothing is read, e.g. the base model bundled in the image).

    Returns:
        Output: `sha256:<hex>` of the content's identity ("" for an empty location).
    """
    from components.common.errors import one_line_errors
    from components.snapshot.kfp_io import run_component

    with one_line_errors():
        return run_component(location)
