"""The operations, one module per resource family; each registers its handlers (see eks.operations)."""
