"""Translate: Shopify and WooCommerce deliveries verified and translated, beside ``json.loads``.

    python -m bench translate [--repeat 41] [--min-time 0.01] [--target 3] [--profile]

The bodies are Shopify's public order and refund samples of 10 to 16 KiB whose topic the plugin
translates (``plugins/shopify/tests/samples``), and WooCommerce's public order bodies
(``plugins/woocommerce/tests/samples``, 2 to 4 KiB: order snapshots, none listing a refund, so
no REST call), unchanged. Per body, in one thread, the floor is
``json.loads`` of the same bytes, the least any translation of it must do; the measured work is
the platform's ``verify`` then ``translate`` of the signed delivery, what a
dispatcher worker and the receiver spend on it. Both run in alternating repetitions of at least
``--min-time`` seconds each, after a warm-up, with the garbage collector paused as `timeit`
does. Times are the median repetition; the ratio is the median of the ratios of neighbouring
repetitions, so that load from other processes, which comes and goes, falls on both alike. The
target: at most ``--target`` times the floor's time per body. ``--profile`` prints where verify
and translate spend their time (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from passerelle.platforms import Store, TranslationContext, WebhookPlatform, WebhookRequest
from passerelle_shopify import HANDLED_TOPICS, ShopifyPlatform
from passerelle_shopify.verify import sign
from passerelle_woocommerce import WooCommercePlatform
from passerelle_woocommerce import verify as woocommerce_verify

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
SAMPLES = PLUGINS / "shopify" / "tests" / "samples"
WOOCOMMERCE_SAMPLES = PLUGINS / "woocommerce" / "tests" / "samples"
WOOCOMMERCE_SITE = "https://bench.example"
SMALLEST = 10 * 1024
LARGEST = 16 * 1024
SHOP = "bench.myshopify.com"
SECRET = "bench-webhook-secret"  # noqa: S105 - signs only these benchmark bodies
TOPIC_OF_FILE = {topic.replace("/", "_"): topic for topic in HANDLED_TOPICS}
"""Sample files are named after their topic, ``/`` written ``_`` (``refunds_create.json``)."""


@dataclass(frozen=True)
class Body:
    name: str
    topic: str
    data: bytes
    platform: WebhookPlatform
    store: Store
    request: WebhookRequest


@dataclass(frozen=True)
class Result:
    body: Body
    floor_ns: float
    measured_ns: float
    ratio: float


def bodies() -> list[Body]:
    """Shopify's samples in the size range whose topic is translated (others are ignored
    unread), then WooCommerce's order bodies."""
    found = []
    shopify = Store("shopify", "bench", (SecretStr(SECRET),), {"shop_domain": SHOP})
    for path in sorted(SAMPLES.glob("*.json")):
        topic = TOPIC_OF_FILE.get(path.name.split(".")[0])
        size = path.stat().st_size
        if topic is not None and SMALLEST <= size <= LARGEST:
            data = path.read_bytes()
            request = shopify_delivery(path.name, topic, data)
            found.append(Body(path.name, topic, data, ShopifyPlatform(), shopify, request))
    woocommerce = Store(
        "woocommerce",
        "bench",
        (SecretStr(SECRET),),
        {"site_url": WOOCOMMERCE_SITE, "consumer_key": "ck_bench", "consumer_secret": "cs_bench"},
    )
    for path in sorted(WOOCOMMERCE_SAMPLES.glob("order.*.json")):
        topic = ".".join(path.name.split(".")[:2])
        data = path.read_bytes()
        request = woocommerce_delivery(topic, data)
        found.append(Body(path.name, topic, data, WooCommercePlatform(), woocommerce, request))
    return found


def shopify_delivery(name: str, topic: str, data: bytes) -> WebhookRequest:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(data, SECRET),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2025-07",
        "X-Shopify-Event-Id": f"bench-{name}",
        "X-Shopify-Triggered-At": "2026-01-15T11:59:58Z",
    }
    return received("shopify", headers, data)


def woocommerce_delivery(topic: str, data: bytes) -> WebhookRequest:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": f"{WOOCOMMERCE_SITE}/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Signature": woocommerce_verify.sign(data, SECRET),
        "X-WC-Webhook-Delivery-ID": "0" * 32,
    }
    return received("woocommerce", headers, data)


def received(platform: str, headers: dict[str, str], data: bytes) -> WebhookRequest:
    return WebhookRequest(
        platform=platform,
        store="bench",
        headers=httpx.Headers(headers),
        body=data,
        received_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    )


def per_call_ns(work: Callable[[], object], calls: int) -> float:
    """Nanoseconds per call of `work` over `calls` calls, the garbage collector paused."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter_ns()
        for _ in range(calls):
            work()
        elapsed = time.perf_counter_ns() - started
    finally:
        if collecting:
            gc.enable()
    return elapsed / calls


def calls_for(work: Callable[[], object], min_time: float) -> int:
    """How many calls of `work` last at least `min_time` seconds."""
    calls = 1
    while per_call_ns(work, calls) * calls < min_time * 1e9:
        calls *= 2
    return calls


def measure(body: Body, http: httpx.Client, repeat: int, min_time: float) -> Result:
    platform, store, request, data = body.platform, body.store, body.request, body.data
    context = TranslationContext(store=store, http=http)

    def floor() -> object:
        return json.loads(data)

    def verified_and_translated() -> object:
        platform.verify(request, store)
        return platform.translate(request, context)

    # Calibrating doubles as the warm-up.
    floor_calls = calls_for(floor, min_time)
    measured_calls = calls_for(verified_and_translated, min_time)
    floors, measured = [], []
    for _ in range(repeat):
        floors.append(per_call_ns(floor, floor_calls))
        measured.append(per_call_ns(verified_and_translated, measured_calls))
    return Result(
        body,
        statistics.median(floors),
        statistics.median(measured),
        statistics.median(m / f for m, f in zip(measured, floors, strict=True)),
    )


def profile(body: Body, http: httpx.Client, calls: int = 2000) -> str:
    """The functions verify and translate of `body` spend most time in, cumulative."""
    platform, store, request = body.platform, body.store, body.request
    context = TranslationContext(store=store, http=http)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        platform.verify(request, store)
        platform.translate(request, context)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(14)
    return out.getvalue()


def report(results: list[Result], target: float) -> bool:
    print(
        f"{'body':<38} {'topic':<27} {'bytes':>6} {'json.loads':>11} "
        f"{'verify+translate':>17} {'ratio':>6}"
    )
    for r in results:
        verdict = "ok" if r.ratio <= target else "MISSED"
        print(
            f"{r.body.name:<38} {r.body.topic:<27} {len(r.body.data):>6} "
            f"{r.floor_ns / 1000:>8.1f} µs {r.measured_ns / 1000:>14.1f} µs "
            f"{r.ratio:>5.2f}x {verdict}"
        )
    floor = statistics.mean(r.floor_ns for r in results)
    measured = statistics.mean(r.measured_ns for r in results)
    ratio = statistics.mean(r.ratio for r in results)
    met = ratio <= target and all(r.ratio <= target for r in results)
    print(
        f"{'overall (mean per body)':<66}    {floor / 1000:>8.1f} µs {measured / 1000:>14.1f} µs "
        f"{ratio:>5.2f}x {'ok' if met else 'MISSED'}"
    )
    print(
        f"one thread: {1e9 / floor:,.0f} json.loads/s, {1e9 / measured:,.0f} deliveries "
        f"verified and translated/s; target at most {target:g}x the floor: "
        f"{'met' if met else 'missed'}"
    )
    return met


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench translate", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--repeat", type=int, default=41, help="measured repetitions")
    parser.add_argument("--min-time", type=float, default=0.01, help="seconds per repetition")
    parser.add_argument("--target", type=float, default=3.0, help="most times the floor")
    parser.add_argument("--profile", action="store_true", help="print a profile per body")
    options = parser.parse_args(argv)

    selected = bodies()
    if not selected:
        print(f"no sample of {SMALLEST}-{LARGEST} bytes with a translated topic in {SAMPLES}")
        return 2
    with httpx.Client() as http:
        results = [measure(body, http, options.repeat, options.min_time) for body in selected]
        met = report(results, options.target)
        if options.profile:
            for body in selected:
                print(f"\nprofile of {body.name} (verify + translate, 2000 calls)")
                print(profile(body, http))
    return 0 if met else 1
