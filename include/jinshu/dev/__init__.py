"""For development only (not in a production image): sample extracts and the demo.

Needs the dev extra (Faker): ``pip install -r requirements-dev.txt``.
"""
