"""Settings shared by the whole test suite."""
from hypothesis import settings

# numba compiles on a test's first example, which would trip hypothesis'
# per-example deadline; few examples keep the suite fast on 2-core CI.
settings.register_profile("kkpy", deadline=None, max_examples=30)
settings.load_profile("kkpy")
