from services.review.main import build_app
from shared.serve import serve

serve("review", build_app)
