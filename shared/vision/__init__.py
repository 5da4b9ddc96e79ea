"""Computer vision that helps people label: OpenCV, no model weights."""
