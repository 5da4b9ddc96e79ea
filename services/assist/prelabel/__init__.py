"""Pre-labels: an ingested item's proposals, from an operator model or a client's own model
endpoint, published as `item.prelabeled` before the item's tasks are made."""
