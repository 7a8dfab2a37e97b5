"""The routes the gateway serves and the operations its OpenAPI document describes are the same."""

import re

from pydantic.alias_generators import to_camel

from services.gateway import bootstrap
from services.gateway.entrypoints.http.openapi import REDOC_PATH, openapi_document
from services.gateway.settings import GatewaySettings
from tests.unit.gateway_fakes import AnsweringChannel, FakeAdapters, InMemoryKeyStore

THE_DESCRIPTION_ITSELF = {("get", "/api/openapi.json"), ("get", "/api/docs"), ("get", REDOC_PATH)}
THE_CONSOLE = {("get", "/"), ("get", "/console/{asset}")}


def served() -> set[tuple[str, str]]:
    """Every method and path the application routes, path parameters named as the document names them."""
    app = bootstrap.build(GatewaySettings(), FakeAdapters(InMemoryKeyStore(), AnsweringChannel(lambda *_: None)))
    return {
        (route.method.lower(), re.sub(r"\{(\w+)\}", lambda name: "{" + to_camel(name[1]) + "}",
                                      route.resource.canonical))
        for route in app.router.routes()
    }


def documented() -> set[tuple[str, str]]:
    return {(method, path) for path, operations in openapi_document()["paths"].items() for method in operations}


def test_every_route_served_is_documented_with_its_method_and_path():
    assert served() - THE_DESCRIPTION_ITSELF - THE_CONSOLE - documented() == set()


def test_every_documented_operation_is_served():
    assert documented() - served() == set()


def test_the_description_itself_and_the_console_are_served_undocumented():
    undocumented = THE_DESCRIPTION_ITSELF | THE_CONSOLE
    assert served() >= undocumented and not undocumented & documented()
