from services.ingest.main import build_app
from shared.serve import serve

serve("ingest", build_app)
