"""Export: the delivery read model, packaging (COCO + manifest), presigned downloads."""
