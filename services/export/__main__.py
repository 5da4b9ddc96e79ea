from services.export.main import build_app
from shared.serve import serve

serve("export", build_app)
