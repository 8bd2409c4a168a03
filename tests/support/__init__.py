"""What the test modules share: stand-ins for the services genvault talks to (the
Supabase double, a fake Replicate), ways to act as a user, and ways to drive the
library, the CLI and the web gallery.

Test modules and conftest files import from here and never from each other, so a
test module can be read, moved or deleted on its own (tests/test_layout.py checks).
"""
