"""Reading a sample's fields in a pipeline: a missing key names the keys the sample has."""

from fastload.errors import SchemaError

__all__ = ["field"]


def field(sample, key, pipeline):
    """``sample[key]``; a missing key raises SchemaError listing the sample's keys (e.g. a
    dataset whose image column is ``img``, or ``image_key=`` set wrong)."""
    try:
        return sample[key]
    except KeyError:
        keys = ", ".join(repr(k) for k in sample) or "none"
        raise SchemaError(
            f"{pipeline} reads sample[{key!r}], but this sample has no {key!r} key "
            f"(its keys: {keys}); rename the column or set the transform's key"
        ) from None
