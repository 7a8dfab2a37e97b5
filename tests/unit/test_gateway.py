import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from services.gateway.domain.api_keys import hash_key, is_well_formed, issue_key
from services.gateway.entrypoints.http.preconditions import expected_versions
from services.gateway.entrypoints.http.requests import validated
from services.gateway.handlers import Authenticator, Unauthorized, _command_id
from shared.contracts.errors import InvalidRequest
from shared.contracts.issues import CreateIssue, ListIssues


class CountingStore:
    def __init__(self, principals):
        self.principals = principals
        self.lookups = 0

    async def find(self, key_hash):
        self.lookups += 1
        return self.principals.get(key_hash)


def test_validation_names_every_field_with_its_wire_name():
    with pytest.raises(InvalidRequest) as raised:
        validated(CreateIssue, {"title": "", "agentId": 3, "severity": "bad", "extra": 1})
    fields = [detail.field for detail in raised.value.details]
    assert fields == ["title", "description", "agentId", "severity", "extra"]
    assert "description: is required" in raised.value.message
    assert "extra: unknown field" in raised.value.message


def test_query_validation_says_parameter():
    with pytest.raises(InvalidRequest) as raised:
        validated(ListIssues, {"limit": "1000", "foo": "x"}, where="query")
    assert raised.value.message.startswith("Invalid request query: limit:")
    assert "foo: unknown parameter" in raised.value.message


def test_issued_keys_look_right_and_only_their_hash_is_kept():
    issued = issue_key("acme")
    assert is_well_formed(issued.secret) and issued.secret.startswith("thk_")
    assert issued.principal.workspace == "acme"
    assert hash_key(issued.secret) != issued.secret and len(hash_key(issued.secret)) == 64
    with pytest.raises(ValueError):
        issue_key("Not A Workspace!")


async def test_authentication_accepts_a_known_key_and_caches_it():
    issued = issue_key("acme")
    store = CountingStore({hash_key(issued.secret): issued.principal})
    auth = Authenticator(store, cache_seconds=60)
    assert await auth.authenticate(f"Bearer {issued.secret}") == issued.principal
    assert await auth.authenticate(f"bearer {issued.secret}") == issued.principal
    assert store.lookups == 1


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Basic abc", "Bearer thk_short", "Bearer thk_unknownunknownunknown"]
)
async def test_authentication_rejects_missing_malformed_and_unknown_keys(header):
    auth = Authenticator(CountingStore({}), cache_seconds=60)
    with pytest.raises(Unauthorized):
        await auth.authenticate(header)


def test_an_idempotency_key_always_maps_to_the_same_command_id():
    assert _command_id("k1") == _command_id("k1") != _command_id("k2")
    assert _command_id(None) != _command_id(None)


@pytest.mark.parametrize("values, versions", [
    ([], None),
    (["*"], None),
    ([' "3" '], [3]),
    (['"3", "5"', '"4"'], [3, 4, 5]),
    (['"3",,"3" ,'], [3]),
    (['W/"3"'], []),
    (['"03"', '"v3"', '"a,b"', '""', '"99999999999999999999"'], []),
    (['W/"3", "7"'], [7]),
])
def test_if_match_names_versions_compared_strongly(values, versions):
    request = make_mocked_request("PATCH", "/api/v2/issues/iss_1", headers=CIMultiDict(("If-Match", v) for v in values))
    assert expected_versions(request) == versions


@pytest.mark.parametrize("values", [[""], ["3"], ["'3'"], ['"3'], ['*, "3"'], ["*", '"3"'], ['w/"3"'], ['"3" "4"'],
                                    [","], ['"a b"']])
def test_a_malformed_if_match_is_a_400_naming_the_header(values):
    request = make_mocked_request("PATCH", "/api/v2/issues/iss_1", headers=CIMultiDict(("If-Match", v) for v in values))
    with pytest.raises(InvalidRequest) as raised:
        expected_versions(request)
    assert [detail.field for detail in raised.value.details] == ["If-Match"]
