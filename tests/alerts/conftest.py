from tests.rates.conftest import employ  # noqa: F401 (a fixture)
