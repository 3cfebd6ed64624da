"""`passerelle new-plugin NAME`: write a platform plugin distribution to start from.

It writes ``passerelle-NAME/``: a pyproject with the ``passerelle`` entry point, a platform on
the plugin kit (`passerelle.plugin`) that verifies a base64 HMAC signature and translates a
shipment, a samples folder with one delivery, a test module turning the contract suite on in one
class, and a tox environment running it. The plugin passes its contract suite as written; adapt
each part to the platform, keeping the suite green.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final

import typer

from passerelle.compatibility import current_range
from passerelle.events import OrderShipped
from passerelle.platforms import Translation
from passerelle.testing.golden import render

__all__ = ["PluginNameError", "register", "write_plugin"]

_NAME: Final = re.compile(r"[a-z][a-z0-9]{0,30}")


class PluginNameError(ValueError):
    """The platform name cannot name a plugin (see `write_plugin`)."""


_PYPROJECT: Final = """\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "passerelle-{name}"
version = "0.1.0"
description = "{title} webhooks for Passerelle."
requires-python = ">=3.11"
dependencies = ["passerelle>=0.1"]

[project.optional-dependencies]
test = ["passerelle[test]>=0.1", "pytest>=8.2", "hypothesis>=6.100"]

[project.entry-points.passerelle]
{name} = "passerelle_{name}"

[tool.hatch.build.targets.wheel]
packages = ["passerelle_{name}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_TOX: Final = """\
[tox]
requires = tox>=4.11
env_list = {name}

[testenv:{name}]
description = the {title} plugin's tests and the platform contract suite
extras = test
commands = pytest tests {{posargs}}
"""

_PLATFORM: Final = '''\
"""{title} webhooks for Passerelle.

Every import from Passerelle comes from `passerelle.plugin`, the plugin kit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Final

from passerelle.plugin import (
    FilePlatform,
    HmacSignature,
    OrderShipped,
    Payload,
    Store,
    Translation,
    TranslationContext,
    VerificationError,
    WebhookPlatform,
    WebhookRequest,
    bounded_key,
    hookimpl,
    top_level_fields,
)

__all__ = ["DELIVERY_HEADER", "SIGNATURE", "{cls}Platform", "register_platforms"]

requires_plugin_api: Final = "{plugin_api}"
"""The versions of `passerelle.plugin` this plugin works with; Passerelle refuses to load it
with any other."""
SIGNATURE: Final = HmacSignature("X-{title}-Signature")
"""How {title} signs a delivery: base64 HMAC-SHA256 of the raw body."""
DELIVERY_HEADER: Final = "X-{title}-Delivery"
"""The id {title} gives a delivery, the same on every retry of it."""


class {cls}Platform(WebhookPlatform):
    """{title} webhooks: one shipment per delivery."""

    name: ClassVar[str] = "{name}"

    def verify(self, request: WebhookRequest, store: Store) -> None:
        SIGNATURE.verify(request, store)

    def delivery_key(self, request: WebhookRequest) -> str:
        key = request.headers.get(DELIVERY_HEADER, "").strip()
        if not key:
            raise VerificationError(f"missing header {{DELIVERY_HEADER}}")
        return bounded_key(key)

    def ordering_key(self, request: WebhookRequest) -> str | None:
        try:
            order = top_level_fields(request.body, ["order_id"]).get("order_id")
        except ValueError:
            return None
        if isinstance(order, bool) or not isinstance(order, int | str) or not str(order):
            return None
        return bounded_key(str(order))

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        body = Payload.parse(request.body, "shipment body")
        shipped = OrderShipped(order=body.id("order_id"), id=body.id("shipment_id"))
        return Translation(events=(shipped,))


@hookimpl
def register_platforms(register: Callable[[WebhookPlatform | FilePlatform], None]) -> None:
    register({cls}Platform())
'''

_SAMPLE: Final = '{{"order_id": 1001, "shipment_id": 5001}}\n'

_CONTRACT: Final = '''\
"""The platform contract suite, on the {title} samples."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from passerelle.plugin import Store
from passerelle.testing import Sample, WebhookPlatformContract
from passerelle.testing.golden import golden_path
from passerelle_{name} import DELIVERY_HEADER, SIGNATURE, {cls}Platform

SAMPLES = Path(__file__).parent / "samples"


class Test{cls}Contract(WebhookPlatformContract):
    platform = {cls}Platform()
    store = Store(platform="{name}", id="main", secrets=(SecretStr("whsec_test"),))
    samples = tuple(
        Sample(
            path.stem,
            path.read_bytes(),
            {{"Content-Type": "application/json", DELIVERY_HEADER: f"dlv-{{path.stem}}"}},
            golden=golden_path(path),
        )
        for path in sorted(SAMPLES.glob("*.json"))
    )

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return SIGNATURE.sign(body, secret)
'''

_README: Final = """\
# passerelle-{name}

{title} webhooks for Passerelle. Deliveries go to `/webhooks/{name}/{{store}}`.

Put real {title} bodies in `tests/samples/` (one per kind of delivery; `pytest --update-golden`
writes the events each must become beside it, for review), adapt
`passerelle_{name}/__init__.py` until `tox -e {name}` (or `pytest`) passes, then
`pip install .` and check that `passerelle plugins` lists it.
"""


def write_plugin(name: str, parent: Path) -> Path:
    """Write the distribution of platform `name` into ``parent/passerelle-NAME`` and return
    that directory.

    `name` is the platform's URL segment: lower-case letters and digits, starting with a letter.
    Raises `PluginNameError` for another name and `FileExistsError` when the directory exists;
    nothing is written then.
    """
    if not _NAME.fullmatch(name):
        raise PluginNameError(
            f"plugin name {name!r}: use 1 to 31 lower-case letters and digits, starting with a "
            "letter (it is the {platform} segment of the webhook URL)"
        )
    root = parent / f"passerelle-{name}"
    if root.exists():
        raise FileExistsError(f"{root} already exists: choose another directory")
    fields = {
        "name": name,
        "title": name.capitalize(),
        "cls": name.capitalize(),
        "plugin_api": current_range(),
    }
    files = {
        "pyproject.toml": _PYPROJECT,
        "tox.ini": _TOX,
        "README.md": _README,
        f"passerelle_{name}/__init__.py": _PLATFORM,
        f"passerelle_{name}/py.typed": "",
        "tests/samples/shipment.json": _SAMPLE,
        "tests/samples/shipment.events.txt": _golden(),
        f"tests/test_{name}_contract.py": _CONTRACT,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields), encoding="utf-8")
    return root


def _golden() -> str:
    """The golden expectations of the sample shipment, braces doubled for `str.format`."""
    shipped = OrderShipped(order="1001", id="5001")
    return render(Translation(events=(shipped,))).replace("{", "{{").replace("}", "}}")


def register(app: typer.Typer) -> None:
    @app.command("new-plugin")
    def new_plugin(
        name: Annotated[str, typer.Argument(help="The platform's name, as in its webhook URL.")],
        directory: Annotated[
            Path, typer.Option("--dir", help="Where to write passerelle-NAME/.")
        ] = Path(),
    ) -> None:
        """Write a platform plugin distribution that passes its contract suite, to adapt."""
        try:
            root = write_plugin(name, directory)
        except (PluginNameError, FileExistsError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"wrote {root}: run `pytest` there, then adapt it to the platform")
