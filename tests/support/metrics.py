"""A process's Prometheus metrics, read as a scraper reads them."""

from prometheus_client.parser import text_string_to_metric_families


async def sample(http, url: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` at `url` (its /metrics); 0 while absent."""
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        text = await response.text()
    return next((s.value for family in text_string_to_metric_families(text) for s in family.samples
                 if s.name == name and s.labels == labels), 0.0)
