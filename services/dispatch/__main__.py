from services.dispatch.main import build_app
from shared.serve import serve

serve("dispatch", build_app)
