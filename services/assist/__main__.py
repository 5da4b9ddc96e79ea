from services.assist.main import build_app
from shared.serve import serve

serve("assist", build_app)
