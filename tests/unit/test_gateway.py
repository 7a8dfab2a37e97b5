import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from services.gateway.domain.api_keys import hash_key, is_well_formed, issue_key
from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.entrypoints.http.preconditions import expected_versions
from services.gateway.entrypoints.http.requests import validated
from services.gateway.handlers import Authenticator, TooManyFailures, Unauthorized, _command_id
from shared.contracts.errors import InvalidRequest
from shared.contracts.issues import CreateIssue, ListIssues
from tests.unit.gateway_fakes import InMemoryKeyStore


def counting_store(principals) -> InMemoryKeyStore:
    store = InMemoryKeyStore()
    store.principals.update(principals)
    return store


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
    store = counting_store({hash_key(issued.secret): issued.principal})
    auth = Authenticator(store, cache_seconds=60, failures=TokenBuckets(10, 1))
    assert await auth.authenticate(f"Bearer {issued.secret}", "10.0.0.1") == issued.principal
    assert await auth.authenticate(f"bearer {issued.secret}", "10.0.0.1") == issued.principal
    assert store.lookups == 1


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Basic abc", "Bearer thk_short", "Bearer thk_unknownunknownunknown"]
)
async def test_authentication_rejects_missing_malformed_and_unknown_keys(header):
    auth = Authenticator(counting_store({}), cache_seconds=60, failures=TokenBuckets(10, 1))
    with pytest.raises(Unauthorized):
        await auth.authenticate(header, "10.0.0.1")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_address_that_keeps_failing_is_refused_before_the_store_is_asked():
    issued = issue_key("acme")
    store = counting_store({hash_key(issued.secret): issued.principal})
    clock = Clock()
    auth = Authenticator(store, cache_seconds=3600, failures=TokenBuckets(3, 0.5, clock=clock))
    good = f"Bearer {issued.secret}"
    assert await auth.authenticate(good, "10.0.0.1") == issued.principal
    guesses = [f"Bearer thk_guess{n:020d}" for n in range(5)]
    for guess in guesses[:3]:
        with pytest.raises(Unauthorized):
            await auth.authenticate(guess, "10.0.0.1")
    lookups = store.lookups
    with pytest.raises(TooManyFailures) as refused:
        await auth.authenticate(guesses[3], "10.0.0.1")
    assert refused.value.retry_after_seconds == 2 and store.lookups == lookups
    with pytest.raises(TooManyFailures):
        await auth.authenticate("Bearer not-even-a-key", "10.0.0.1")
    assert await auth.authenticate(good, "10.0.0.1") == issued.principal
    with pytest.raises(Unauthorized):
        await auth.authenticate(guesses[4], "10.0.0.2")
    with pytest.raises(Unauthorized, match="Missing"):
        await auth.authenticate(None, "10.0.0.1")
    clock.now += 2
    with pytest.raises(Unauthorized):
        await auth.authenticate(guesses[4], "10.0.0.1")


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
def test_a_malformed_if_match_matches_no_version(values):
    request = make_mocked_request("PATCH", "/api/v2/issues/iss_1", headers=CIMultiDict(("If-Match", v) for v in values))
    assert expected_versions(request) == []


KEYS_REMEMBERED = 10_000


def many_keys(count: int) -> tuple[list[str], InMemoryKeyStore]:
    issued = [issue_key("acme") for _ in range(count)]
    return [f"Bearer {key.secret}" for key in issued], counting_store({hash_key(k.secret): k.principal for k in issued})


async def test_a_full_key_cache_forgets_its_least_recently_used_keys_one_at_a_time():
    headers, store = many_keys(KEYS_REMEMBERED + 2)
    auth = Authenticator(store, cache_seconds=3600, failures=TokenBuckets(10, 1))
    for header in headers:
        await auth.authenticate(header, "10.0.0.1")
    assert store.lookups == KEYS_REMEMBERED + 2
    for header in headers[2:]:
        await auth.authenticate(header, "10.0.0.1")
    assert store.lookups == KEYS_REMEMBERED + 2, "every key but the two oldest is still remembered"
    await auth.authenticate(headers[0], "10.0.0.1")
    assert store.lookups == KEYS_REMEMBERED + 3


async def test_a_remembered_key_behind_a_throttled_address_goes_on_while_other_keys_fill_the_cache():
    good = issue_key("acme")
    headers, store = many_keys(KEYS_REMEMBERED + 1)
    store.principals[hash_key(good.secret)] = good.principal
    auth = Authenticator(store, cache_seconds=3600, failures=TokenBuckets(1, 0.001))
    assert await auth.authenticate(f"Bearer {good.secret}", "10.0.0.1") == good.principal
    with pytest.raises(Unauthorized):
        await auth.authenticate("Bearer thk_guess00000000000000000000", "10.0.0.1")
    for count, header in enumerate(headers):
        await auth.authenticate(header, "10.0.0.2")
        if count % 100 == 0:
            assert await auth.authenticate(f"Bearer {good.secret}", "10.0.0.1") == good.principal
    assert await auth.authenticate(f"Bearer {good.secret}", "10.0.0.1") == good.principal


async def test_a_remembered_key_is_asked_for_again_once_its_time_is_up():
    headers, store = many_keys(1)
    clock = Clock()
    auth = Authenticator(store, cache_seconds=30, failures=TokenBuckets(10, 1), clock=clock)
    await auth.authenticate(headers[0], "10.0.0.1")
    clock.now += 29
    await auth.authenticate(headers[0], "10.0.0.1")
    assert store.lookups == 1
    clock.now += 1
    await auth.authenticate(headers[0], "10.0.0.1")
    assert store.lookups == 2
