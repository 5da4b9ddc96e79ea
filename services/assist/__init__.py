"""Assist: models propose, people decide (box or clicks to an outline, pre-labels, models)."""
