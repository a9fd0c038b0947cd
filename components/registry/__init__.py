"""Champion discovery: versions of a named model, a `champion` alias, and their history."""
