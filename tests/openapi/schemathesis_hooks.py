"""Loaded by the schemathesis command (SCHEMATHESIS_HOOKS) in ``test_schemathesis.py``.

Formats: the document names the formats a JSON Schema cannot spell out (a check
character, a district the rulesets know, a password that is not a common one); here
they get strategies that make valid values, so that a request the document calls valid
reaches the services.

Credentials: the run's own user is a bureau clerk, and the run is free to revoke its
token or disable it (those are operations of the document too). A 401 makes
schemathesis ask here again: the user is enabled and a new token issued, through the
``registry`` command of the instance under test (its settings are in this process's
environment).
"""

import os
import subprocess
from datetime import date

import schemathesis
from hypothesis import strategies as st
from hypothesis.internal import lambda_sources

from registry.identity import ID_TYPES, gb11643_check_char, uscc_check_char

REGISTRY = os.environ["REGISTRY_TEST_COMMAND"]
USERNAME = os.environ["REGISTRY_TEST_USERNAME"]
DISTRICTS = ["西湖区", "杭州市西湖区", "余姚市", "拱墅区", "永安市", "杭锦旗"]


@st.composite
def _identity_numbers(draw):
    """Resident ID numbers: a Hangzhou address code, a birth date, a sequence, the check
    character."""
    born = draw(st.dates(min_value=date(1950, 1, 1), max_value=date(2005, 12, 31)))
    first17 = f"330106{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + gb11643_check_char(first17)


@st.composite
def _institution_codes(draw):
    """统一社会信用代码 of registered institutions (91…) with their check character."""
    first17 = f"91330106MA{draw(st.integers(0, 10**7 - 1)):07d}"
    return first17 + uscc_check_char(first17)


_describe_lambda = lambda_sources._lambda_description


def _lambda_description(f, *args, **kwargs):
    # CPython 3.11 before 3.11.8 (gh-106905) may raise SystemError from ast.parse deep
    # in a generator; hypothesis only wants a lambda's source to name it in reports.
    try:
        return _describe_lambda(f, *args, **kwargs)
    except SystemError:
        return "lambda"


lambda_sources._lambda_description = _lambda_description


schemathesis.openapi.format("identity-number", _identity_numbers())
schemathesis.openapi.format("unified-social-credit-code", _institution_codes())
schemathesis.openapi.format("district", st.sampled_from(DISTRICTS))
schemathesis.openapi.format(
    "password",
    st.text(alphabet="abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQR2345679", min_size=16, max_size=40),
)


@schemathesis.hook
def filter_body(context, body):
    # The numbers made above are resident IDs: another type named beside one is refused
    # by a rule across two fields that the document cannot state.
    return not (isinstance(body, dict) and body.get("id_type") in set(ID_TYPES) - {"resident_id"})


def _registry(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        [REGISTRY, *args], capture_output=True, text=True, check=check, timeout=120
    )
    return result.stdout


@schemathesis.auth(refresh_interval=10**9)  # only when a 401 says so
class FreshToken:
    first = os.environ["REGISTRY_TEST_TOKEN"]

    def get(self, case, context):
        if self.first:
            token, self.first = self.first, None
            return token
        # Enabling a user who is not disabled is refused: that is no reason to stop.
        _registry("users", "enable", USERNAME, check=False)
        return _registry("tokens", "create", "--username", USERNAME).strip().splitlines()[-1]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
