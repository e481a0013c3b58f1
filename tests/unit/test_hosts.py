"""Hosts and URLs: which service a URL really reaches, judged on its parsed host."""

from __future__ import annotations

import pytest

from modelroute.engine.hosts import (
    AzureCloud,
    HostClass,
    HostFamily,
    ParsedURL,
    URLError,
    canonical_host,
    classify_host,
    find_urls,
    parse_url,
    whatwg_host,
)

# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "family", "cloud"),
    [
        ("contoso.openai.azure.com", HostFamily.AZURE_OPENAI, AzureCloud.PUBLIC),
        ("contoso.openai.azure.us", HostFamily.AZURE_OPENAI, AzureCloud.US_GOVERNMENT),
        ("contoso.openai.azure.cn", HostFamily.AZURE_OPENAI, AzureCloud.CHINA),
        ("contoso.privatelink.openai.azure.com", HostFamily.AZURE_OPENAI, AzureCloud.PUBLIC),
        ("contoso.cognitiveservices.azure.com", HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.PUBLIC),
        ("contoso.cognitiveservices.azure.us", HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.US_GOVERNMENT),
        ("contoso.cognitiveservices.azure.cn", HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.CHINA),
        ("westeurope.api.cognitive.microsoft.com", HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.PUBLIC),
        ("contoso.services.ai.azure.com", HostFamily.AZURE_AI_FOUNDRY, AzureCloud.PUBLIC),
        ("contoso.services.ai.azure.us", HostFamily.AZURE_AI_FOUNDRY, AzureCloud.US_GOVERNMENT),
        ("apim-contoso.azure-api.net", HostFamily.AZURE_API_MANAGEMENT, AzureCloud.PUBLIC),
        ("apim-contoso.azure-api.us", HostFamily.AZURE_API_MANAGEMENT, AzureCloud.US_GOVERNMENT),
        ("apim-contoso.azure-api.cn", HostFamily.AZURE_API_MANAGEMENT, AzureCloud.CHINA),
    ],
)
def test_azure_hosts_are_classified_by_family_and_cloud(host: str, family: HostFamily, cloud: AzureCloud) -> None:
    assert classify_host(host) == HostClass(family, cloud)
    assert classify_host(host).is_azure


@pytest.mark.parametrize(
    "host",
    [
        "openai.com",
        "api.openai.com",
        "us.api.openai.com",
        "eu.api.openai.com",
        "ae.api.openai.com",
        "mtls.api.openai.com",
        "contoso.privatelink.api.openai.com",
    ],
)
def test_openai_operated_hosts_are_openai(host: str) -> None:
    assert classify_host(host) == HostClass(HostFamily.OPENAI, None)


@pytest.mark.parametrize(
    "host",
    [
        "bedrock-runtime.us-east-1.amazonaws.com",
        "bedrock-runtime-fips.us-gov-west-1.amazonaws.com",
        "bedrock-mantle.us-west-2.amazonaws.com",
        "bedrock.eu-central-1.amazonaws.com",
    ],
)
def test_bedrock_hosts_are_aws_bedrock(host: str) -> None:
    assert classify_host(host) == HostClass(HostFamily.AWS_BEDROCK, None)


@pytest.mark.parametrize(
    "host",
    [
        "openai.azure.com.evil.com",
        "contoso.openai.azure.com.evil.com",
        "evilopenai.azure.com",
        "openai.azure.com",
        "azure.com",
        "api-openai.com",
        "openai.com.cn",
        "notopenai.com",
        "api.openai.co",
        "evilazure-api.net",
        "azure-api.net",
        "services.ai.azure.com",
        "s3.us-east-1.amazonaws.com",
        "bedrock-runtime.us-east-1.amazonaws.com.evil.com",
        "xbedrock.us-east-1.amazonaws.com",
        "example.com",
        "127.0.0.1",
        "::1",
    ],
)
def test_look_alikes_are_other(host: str) -> None:
    assert classify_host(host) == HostClass(HostFamily.OTHER, None)


@pytest.mark.parametrize(
    ("family", "is_azure", "serves_openai_models"),
    [
        (HostFamily.AZURE_OPENAI, True, True),
        (HostFamily.AZURE_COGNITIVE_SERVICES, True, True),
        (HostFamily.AZURE_AI_FOUNDRY, True, True),
        (HostFamily.AZURE_API_MANAGEMENT, True, False),
        (HostFamily.OPENAI, False, True),
        (HostFamily.AWS_BEDROCK, False, False),
        (HostFamily.OTHER, False, False),
    ],
)
def test_host_class_properties(family: HostFamily, is_azure: bool, serves_openai_models: bool) -> None:
    host_class = HostClass(family, None)
    assert host_class.is_azure is is_azure
    assert host_class.is_openai_model_host is serves_openai_models


def test_classification_canonicalises_its_input() -> None:
    assert classify_host("Contoso.OpenAI.Azure.COM.") == HostClass(HostFamily.AZURE_OPENAI, AzureCloud.PUBLIC)


def test_classifying_an_invalid_host_raises() -> None:
    with pytest.raises(URLError):
        classify_host("contoso openai.azure.com")


# ---------------------------------------------------------------------------------------------
# Canonical hosts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("API.OpenAI.com", "api.openai.com"),
        ("api.openai.com.", "api.openai.com"),
        ("contoso%2eopenai.azure.com", "contoso.openai.azure.com"),
        ("%63ontoso.openai.azure.com", "contoso.openai.azure.com"),
        ("b%C3%BCcher.de", "xn--bcher-kva.de"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.de", "xn--bcher-kva.de"),
        ("_acme.example.com", "_acme.example.com"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[2001:DB8:0:0:0:0:0:1]", "2001:db8::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ],
)
def test_canonical_host(host: str, canonical: str) -> None:
    assert canonical_host(host) == canonical


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "0x7f.1",
        "0x7F.0x0.0x0.0x1",
        "0177.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "017700000001",
    ],
)
def test_ipv4_in_any_browser_form_is_dotted_quad(host: str) -> None:
    assert canonical_host(host) == "127.0.0.1"


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("", "no host"),
        (".", "no host"),
        ("api..openai.com", "empty label"),
        (".api.openai.com", "empty label"),
        ("api.openai.com..", "empty label"),
        ("api openai.com", "not allowed"),
        ("api.openai.com/v1", "not allowed"),
        ("evil.com@api.openai.com", "not allowed"),
        ("evil.com\\api.openai.com", "not allowed"),
        ("api\x00.openai.com", "not allowed"),
        ("api%20.openai.com", "not allowed"),
        ("api%2.openai.com", "malformed percent"),
        ("api%252eopenai.com", "not allowed"),
        ("%ff.com", "invalid UTF-8"),
        ("straße.de", "IDNA mapping"),
        ("\uff4f\uff50\uff45\uff4e\uff41\uff49.com", "IDNA mapping"),
        ("open\u200dai.com", "IDNA mapping"),
        ("xn--bcher-kva\u00e9.de", "internationalised"),
        ("api\u3002openai.com", "full stop"),
        ("a" * 64 + ".com", "longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("1.2.3.256", "out of range"),
        ("4294967296", "out of range"),
        ("08.0.0.1", "not a valid IPv4"),
        ("0x.0.0.1", "not a valid IPv4"),
        ("1.2.3.4.5", "not a valid IPv4"),
        ("api.openai.com.123", "not a valid IPv4"),
        ("127.0.0.1.", "trailing dot"),
        ("[::1", "unterminated"),
        ("[::1%25eth0]", "zone"),
        ("[fe80::1%eth0]", "zone"),
        ("[1:2:3]", "IPv6"),
        ("api.openai.com:443", "IPv6"),
    ],
)
def test_invalid_hosts_raise_with_a_reason(host: str, message: str) -> None:
    with pytest.raises(URLError, match=message):
        canonical_host(host)


# ---------------------------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------------------------


def test_parse_url_splits_a_url() -> None:
    assert parse_url("https://contoso.openai.azure.com/openai/v1/?api-version=1#x") == ParsedURL(
        "https", "contoso.openai.azure.com", 443, "/openai/v1/"
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("HTTPS://API.OPENAI.COM/v1", "api.openai.com"),
        ("https://api.openai.com./v1", "api.openai.com"),
        ("https://api.openai.com@evil.com/", "evil.com"),
        ("https://evil.com@contoso.openai.azure.com/", "contoso.openai.azure.com"),
        ("https://user:secret@contoso.openai.azure.com/", "contoso.openai.azure.com"),
        ("https://contoso.openai.azure.com:443@evil.com/", "evil.com"),
        ("https://@api.openai.com/", "api.openai.com"),
        ("https://api.openai.com#@evil.com", "api.openai.com"),
        ("https://api.openai.com?@evil.com", "api.openai.com"),
        ("https://api.openai.com/@evil.com", "api.openai.com"),
        ("https://api.openai.com/\\@evil.com", "api.openai.com"),
        ("https://bücher.de/", "xn--bcher-kva.de"),
        ("https://0x7f.1/", "127.0.0.1"),
        ("https://[::1]:8443/", "::1"),
        ("  https://api.openai.com/v1\n", "api.openai.com"),
    ],
)
def test_parse_url_host(url: str, host: str) -> None:
    assert parse_url(url).host == host


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("https://api.openai.com", 443),
        ("http://api.openai.com", 80),
        ("https://api.openai.com:", 443),
        ("https://api.openai.com:8443", 8443),
        ("http://api.openai.com:0443", 443),
        ("https://api.openai.com:1", 1),
        ("https://api.openai.com:65535", 65535),
    ],
)
def test_parse_url_port(url: str, port: int) -> None:
    assert parse_url(url).port == port


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://api.openai.com", ""),
        ("https://api.openai.com/", "/"),
        ("https://api.openai.com/v1/chat/completions?x=1", "/v1/chat/completions"),
        ("https://api.openai.com?x=/v1", ""),
        ("https://api.openai.com/v1#frag?x", "/v1"),
    ],
)
def test_parse_url_path_excludes_query_and_fragment(url: str, path: str) -> None:
    assert parse_url(url).path == path


@pytest.mark.parametrize(
    ("url", "host_port", "origin"),
    [
        ("https://api.openai.com/v1", "api.openai.com:443", "https://api.openai.com"),
        ("HTTP://api.openai.com:80/", "api.openai.com:80", "http://api.openai.com"),
        ("https://api.openai.com:8443/", "api.openai.com:8443", "https://api.openai.com:8443"),
        ("http://api.openai.com:443/", "api.openai.com:443", "http://api.openai.com:443"),
        ("https://[2001:db8::1]/", "[2001:db8::1]:443", "https://[2001:db8::1]"),
        ("https://[::1]:8443/", "[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_host_port_and_origin(url: str, host_port: str, origin: str) -> None:
    parsed = parse_url(url)
    assert parsed.host_port == host_port
    assert parsed.origin == origin


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "not an absolute URL"),
        ("api.openai.com/v1", "not an absolute URL"),
        ("//api.openai.com/v1", "not an absolute URL"),
        ("https:/api.openai.com", "not an absolute URL"),
        ("https:\\\\api.openai.com", "not an absolute URL"),
        ("ftp://api.openai.com", "scheme must be http, https, ws or wss"),
        ("https://", "no host"),
        ("https:///api.openai.com", "no host"),
        ("https://user@/v1", "no host"),
        ("https://:443/v1", "no host"),
        ("https://evil.com\\@contoso.openai.azure.com/", "backslash"),
        ("https://contoso.openai.azure.com\\.evil.com/", "backslash"),
        ("https://a@evil.com@contoso.openai.azure.com/", "more than one '@'"),
        ("https://contoso%2eopenai.azure.com/", "percent-encoded"),
        ("https://api.open\tai.com/", "control character"),
        ("https://api.openai.com\x00/", "control character"),
        ("https://api.openai.com:0/", "port must be"),
        ("https://api.openai.com:65536/", "port must be"),
        ("https://api.openai.com:+443/", "port must be"),
        ("https://api.openai.com:\u0664\u0664\u0663/", "port must be"),
        ("https://api.openai.com:4_43/", "port must be"),
        ("https://api.openai.com:https/", "port must be"),
        ("https://api.openai.com:443:80/", "more than one ':'"),
        ("https://[::1]x/", "after an IPv6 literal"),
        ("https://[::1/", "unterminated"),
        ("https://straße.de/", "IDNA mapping"),
        ("https://1.2.3.4./", "trailing dot"),
    ],
)
def test_malformed_or_ambiguous_urls_raise_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(URLError, match=message):
        parse_url(url)


def test_url_error_is_a_value_error() -> None:
    assert issubclass(URLError, ValueError)


# ---------------------------------------------------------------------------------------------
# Finding URLs in free text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("no urls here", []),
        ("https://api.openai.com/v1", ["https://api.openai.com/v1"]),
        (
            "python app.py --base-url https://contoso.openai.azure.com/openai/v1 --model gpt-4o",
            ["https://contoso.openai.azure.com/openai/v1"],
        ),
        ("--endpoint=HTTPS://API.OPENAI.COM/v1", ["HTTPS://API.OPENAI.COM/v1"]),
        ("curl 'https://api.openai.com/v1/models'", ["https://api.openai.com/v1/models"]),
        ('curl "http://localhost:8080/x"', ["http://localhost:8080/x"]),
        ("echo `https://a.example`", ["https://a.example"]),
        ("<https://a.example>", ["https://a.example"]),
        ("first https://a.example\tsecond\nhttps://b.example", ["https://a.example", "https://b.example"]),
        (
            '{"base_url": "https://api.openai.com/v1", "fallback": "https://x.openai.azure.com"}',
            ["https://api.openai.com/v1", "https://x.openai.azure.com"],
        ),
        ('["https://a.example","https://b.example"]', ["https://a.example", "https://b.example"]),
        ('{\\"url\\": \\"https://eu.api.openai.com\\"}', ["https://eu.api.openai.com"]),
        ("https://a.example;https://b.example", ["https://a.example;https://b.example"]),
        # WHATWG parsers read a special scheme with any number of slashes or backslashes as a URL
        ("ftp://a.example and https:/b.example", ["https:/b.example"]),
        ("run https:evil.example now", ["https:evil.example"]),
        ("wss://a.example/socket", ["wss://a.example/socket"]),
        ("https:\\\\a.example\\v1", ["https:\\\\a.example\\v1"]),
    ],
)
def test_find_urls(text: str, urls: list[str]) -> None:
    assert find_urls(text) == urls


def test_find_urls_keeps_userinfo_tricks_for_the_parser() -> None:
    assert find_urls("x https://api.openai.com@evil.com/ y") == ["https://api.openai.com@evil.com/"]


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        (
            "sh -c 'curl \"https://contoso.openai.azure.com\".evil.com/v1'",
            ["https://contoso.openai.azure.com", "https://contoso.openai.azure.com.evil.com/v1"],
        ),
        (
            'curl "https://contoso.openai.azure.com"@evil.com',
            ["https://contoso.openai.azure.com", "https://contoso.openai.azure.com@evil.com"],
        ),
        ('curl "https://api.open"ai.com/v1', ["https://api.open", "https://api.openai.com/v1"]),
    ],
)
def test_find_urls_also_reports_the_url_a_shell_would_join(text: str, urls: list[str]) -> None:
    assert find_urls(text) == urls


@pytest.mark.parametrize(
    "text",
    [
        '{"url":"https://api.openai.com"}',
        '"https://api.openai.com", "x"',
        "requests.get('https://api.openai.com')",
        '"https://api.openai.com":443',
    ],
)
def test_find_urls_adds_nothing_when_quotes_only_delimit(text: str) -> None:
    assert find_urls(text) == ["https://api.openai.com"]


def test_websocket_urls_go_where_their_https_twins_go() -> None:
    # the Realtime API: wss://{resource}.openai.azure.com/openai/realtime
    assert parse_url("wss://Contoso.openai.azure.com/openai/realtime").host_port == "contoso.openai.azure.com:443"
    assert parse_url("ws://example.com/x").host_port == "example.com:80"


@pytest.mark.parametrize(
    ("text", "whatwg"),
    [
        ("https:api.openai.com/v1", "api.openai.com"),  # no slashes after the scheme
        ("https:/api.openai.com/v1", "api.openai.com"),
        ("https:\\\\api.openai.com\\v1", "api.openai.com"),  # backslashes
        ("https://api.open\tai.com/v1", "api.openai.com"),  # a tab inside the host
        ("https://api.open\nai.com/v1", "api.openai.com"),  # a newline inside the host
        ("h\tttps://api.openai.com/v1", "api.openai.com"),  # a tab inside the scheme
        ("https://\uff41\uff50\uff49.openai.com/v1", "api.openai.com"),  # full-width letters
        ("https://api\u3002openai.com/v1", "api.openai.com"),  # an ideographic full stop
    ],
)
def test_strings_a_whatwg_client_reads_as_a_model_host_are_refused_with_that_host_known(text: str, whatwg: str) -> None:
    with pytest.raises(URLError):
        parse_url(text)
    assert whatwg_host(text) == whatwg
