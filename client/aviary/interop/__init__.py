"""Annotations made in other tools (Label Studio, CVAT, COCO, YOLO, Pascal VOC), read into one
neutral form (`foreign.py`) and mapped onto a project's ontology (`mapping.py`)."""
