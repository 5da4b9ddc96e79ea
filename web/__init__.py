"""The web pages, shipped as the import package `aviary_web` (setup.py maps it to this folder).

Not `web`: a top-level package of that name would clash with others in site-packages. The
services find the pages through this package (`shared/web/pages.py`), so an editable install
serves this folder as it is edited and a wheel serves its installed copy. See README.md here.
"""
