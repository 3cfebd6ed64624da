"""The built site must load nothing from elsewhere: no CDN script, no web font, no remote image.

Links a reader follows (``<a href="https://...">``) are fine; what the browser fetches by itself
to show a page is not.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])((?:https?:)?//[^'")\s]+)""", re.I)
# The attributes a browser fetches on its own, by tag.
_FETCHED = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "track": ("src",),
    "input": ("src",),
}
# <link> relations that name a page rather than fetch one.
_NOT_FETCHED_RELS = frozenset({"canonical", "alternate", "author", "license", "next", "prev"})


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.remote: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self._in_style = tag == "style"
        rels = set(values.get("rel", "").lower().split())
        if tag == "link" and rels and rels <= _NOT_FETCHED_RELS:
            return
        for name in _FETCHED.get(tag, ()):
            for candidate in values.get(name, "").split(","):
                url = candidate.strip().split(" ")[0]
                if _REMOTE.match(url):
                    self.remote.append(f"<{tag} {name}={url}>")
        self.remote += css_urls(values.get("style", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.remote += css_urls(data)


def css_urls(css: str) -> list[str]:
    """The remote URLs a stylesheet fetches (``url(...)``, ``@import``)."""
    return [match.group(1) for match in _CSS_URL.finditer(css)]


def html_urls(html: str) -> list[str]:
    """The remote URLs a page fetches by itself, each with the tag that fetches it."""
    parser = _Assets()
    parser.feed(html)
    parser.close()
    return parser.remote


def remote_assets(site: Path) -> list[str]:
    """Every remote fetch of the built site, as ``page: what``; empty when it is self-contained."""
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            urls = html_urls(path.read_text(encoding="utf-8"))
        elif path.suffix == ".css":
            urls = css_urls(path.read_text(encoding="utf-8"))
        else:
            continue
        found += [f"{path.relative_to(site)}: {url}" for url in urls]
    return found
