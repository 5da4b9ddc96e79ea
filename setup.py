"""Beside pyproject.toml for one thing it cannot say: ship the top-level web/ folder (the
pages) as the import package `aviary_web`, a name that cannot clash in site-packages as `web`
would. pyproject.toml can find packages by folder name, or list them all, but not find
`shared` and `services` and also map a package onto a folder of another name; nor can its
package data name several packages by a pattern. Here too: the speech detector's model
(services/ingest/models/*.onnx), which `make install` fetches (scripts/vad_model.py) and git
does not hold, shipped as the ingest package's data. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

# web/'s folders: one per page, and common/ (the shared assets); not the type checker's modules.
PAGE_FOLDERS = find_namespace_packages(
    "web", exclude=["node_modules", "node_modules.*", "__pycache__"]
)
WEB_PACKAGES = ["aviary_web", *(f"aviary_web.{folder}" for folder in PAGE_FOLDERS)]

setup(
    packages=[*find_namespace_packages(include=["shared*", "services*"]), *WEB_PACKAGES],
    package_dir={"aviary_web": "web"},
    # What a page is made of; web/'s package.json, tsconfig.json and README.md stay out.
    package_data={
        **{package: ["*.html", "*.js", "*.css"] for package in WEB_PACKAGES},
        "services.ingest": ["models/*.onnx"],
    },
)
