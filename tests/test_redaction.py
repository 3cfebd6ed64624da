"""URLs as printed and logged: user info and secret-looking parameters masked, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.redaction import looks_secret, password_in_url, redact_url, redact_urls


@pytest.mark.parametrize(
    ("url", "shown", "password"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "postgresql://***@h:5432/db", True),
        (
            "postgresql://h/db?sslpassword=pw&sslmode=require",
            "postgresql://h/db?sslpassword=***&sslmode=require",
            True,
        ),
        ("postgresql://u@h/db?password=pw", "postgresql://***@h/db?password=***", True),
        ("https://ghp_token@example.com/repo", "https://***@example.com/repo", False),
        (
            "https://shop.example/cb#access_token=t0k&state=s",
            "https://shop.example/cb#access_token=***&state=s",
            True,
        ),
        (
            "https://api.example/v1?api_key=k&page=2&Auth=a",
            "https://api.example/v1?api_key=***&page=2&Auth=***",
            True,
        ),
        ("sqlite:///var/lib/passerelle/inbox.db", "sqlite:///var/lib/passerelle/inbox.db", False),
        ("sqlite:////abs/inbox.db?mode=ro", "sqlite:////abs/inbox.db?mode=ro", False),
        ("https://api.example.com", "https://api.example.com", False),
        ("ops@example.com", "ops@example.com", False),
        ("2024-10", "2024-10", False),
    ],
)
def test_user_info_and_secret_parameters_are_masked(url: str, shown: str, password: bool) -> None:
    assert redact_url(url) == shown
    assert password_in_url(url) is password


def test_every_url_in_a_text_is_redacted_and_the_sentence_kept() -> None:
    text = "cannot reach postgresql://app:hunter2@db/inbox (tried https://x.example/?token=abc)."

    assert redact_urls(text) == (
        "cannot reach postgresql://***@db/inbox (tried https://x.example/?token=***)."
    )


_SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_SECRET = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_%!~'", min_size=6, max_size=20)
_SECRET_NAMES = st.sampled_from(
    ["password", "sslpassword", "token", "access_token", "api_key", "secret", "sig", "auth"]
)


@given(
    scheme=st.sampled_from(["postgresql", "https", "http", "redis"]),
    user=_SAFE,
    password=st.one_of(st.none(), _SECRET),
    host=_SAFE,
    path=_SAFE,
    plain=st.lists(st.tuples(_SAFE.filter(lambda name: not looks_secret(name)), _SAFE)),
    secret_name=_SECRET_NAMES,
    secret=_SECRET,
)
def test_no_secret_survives_and_everything_else_does(
    scheme: str,
    user: str,
    password: str | None,
    host: str,
    path: str,
    plain: list[tuple[str, str]],
    secret_name: str,
    secret: str,
) -> None:
    user_info = user if password is None else f"{user}:{password}"
    query = "&".join([f"{n}={v}" for n, v in plain] + [f"{secret_name}={secret}"])
    url = f"{scheme}://{user_info}@{host}/{path}?{query}"

    shown = redact_url(url)

    assert secret not in shown
    assert password is None or password not in shown
    assert shown.startswith(f"{scheme}://***@{host}/{path}?")
    for name, value in plain:
        assert f"{name}={value}" in shown
    assert password_in_url(url)
