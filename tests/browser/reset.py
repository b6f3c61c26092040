"""Where the browser tests' shared dashboard forgets the previous test (see shared_server.py)."""

RESET_PATH = "/_auditlens_test/reset"
# The previous test's page contexts are closed before the reset is posted; their websockets
# end within moments. Bounded so that a session that never ends fails the test, not hangs it.
SESSIONS_GONE_SECONDS = 30.0
