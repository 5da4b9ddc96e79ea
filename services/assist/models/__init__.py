"""Operator models: ONNX detectors, segmenters and promptable (SAM-class) segmenters an
operator uploads with a manifest, checked against their task's contract, versioned, stored in
object storage and run with onnxruntime (docs/assist.md)."""
