"""Chromium reaches the registry as a user's browser does."""


def test_chromium_reads_the_api_document_served_by_gunicorn(page, live_url):
    response = page.goto(f"{live_url}/api/v1/openapi.json")
    assert response.status == 200
    assert "托育机构从业人员资质与禁入登记" in page.content()
