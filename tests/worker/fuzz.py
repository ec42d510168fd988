"""A seeded generator of broker messages: valid jobs, and mutations of valid envelopes that nothing may run.

Every case knows its verdict. A valid one carries an order id that must end ``succeeded``; a malformed one
carries a marker that must turn up in exactly the rejected record of it (where the record can hold it:
a body of ``[[], {}, embed]`` has nothing to carry one). Harmless variations (extra headers, optional
fields left out, a plain UTF-8 body) are valid: the guard must not refuse what Celery can run.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.worker.messages import EMBED, envelope, job_body

Env = dict[str, Any]


@dataclass(frozen=True)
class Case:
    kind: str
    raw: bytes
    marker: str
    valid: bool
    platform: str = ""
    """A valid case's platform: its order (id ``marker``) must be in the sandbox."""
    traceable: bool = True
    """False when the rejected record cannot hold the marker (the body's args carried none)."""


@dataclass(frozen=True)
class Shop:
    platform: str
    name: str


def _job(marker: str, shop: Shop, **extra: Any) -> dict[str, Any]:
    return {"order_id": marker, "platform": shop.platform, "shop": shop.name, "reason": "CUSTOMER_REQUEST",
            "source": marker, **extra}


def _env(marker: str, body: Any) -> Env:
    return {"cq_fuzz": marker, **envelope(body, message_id=f"{marker}-id")}


def _at(env: Env, path: tuple[str, ...]) -> tuple[Any, str]:
    for key in path[:-1]:
        env = env[key]
    return env, path[-1]


def _rebody(env: Env, text: str) -> Env:
    env["body"] = base64.b64encode(text.encode()).decode()
    return env


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 6 or roll < 0.5:
        return rng.choice([None, True, 1, -7.5, "", "x" * rng.randint(0, 40), "\u00e9\u4e2d\U0001f600"])
    if roll < 0.75:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": _random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}


# -- valid: harmless variations of a valid envelope --------------------------------------------------------

def _valid(rng: random.Random, marker: str, shop: Shop) -> Env:
    env = _env(marker, job_body(_job(marker, shop)))
    variation = rng.randrange(10)
    if variation == 1:
        env["headers"]["x-fuzz"] = _random_json(rng)
    elif variation == 2:
        del env["headers"][rng.choice(["lang", "root_id", "parent_id", "group"])]
    elif variation == 3:
        del env["properties"][rng.choice(["correlation_id", "delivery_mode", "priority"])]
    elif variation == 4:
        env["properties"]["body_encoding"] = "utf-8"
        env["body"] = json.dumps(job_body(_job(marker, shop)))
    elif variation == 5:
        env["headers"]["x-big"] = "v" * rng.randint(10_000, 300_000)
    elif variation == 6:
        env["headers"].update(rng.choice([
            {"eta": None, "expires": None, "retries": 0, "timelimit": [None, None], "argsrepr": "(job,)",
             "kwargsrepr": "{}", "origin": "fuzz", "ignore_result": True, "stamped_headers": None, "stamps": {}},
            {"shadow": "cancel as fuzz", "argsrepr": 5, "kwargsrepr": {}, "retries": "x", "group_index": "x",
             "root_id": [], "parent_id": {}, "group": [], "reply_to": 5, "origin": [], "lang": 5},
        ]))
    elif variation == 7:
        _rebody(env, json.dumps(job_body(_job(marker, shop, note="\u00e9\u4e2d " * rng.randint(1, 60)))))
    elif variation == 8:
        env["properties"]["delivery_tag"] = rng.getrandbits(62)
    elif variation == 9:
        del env["cq_fuzz"]
    return env


# -- malformed: the envelope itself -----------------------------------------------------------------------

def _garbage(rng: random.Random, marker: str, shop: Shop) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return f"{marker} ".encode() + "".join(rng.choices(string.printable, k=rng.randint(0, 300))).encode()
    if choice == 1:
        return marker.encode() + rng.randbytes(rng.randint(1, 600))
    if choice == 2:
        return f'{{"cq_fuzz": "{marker}", "body": "'.encode() + b"A" * rng.randint(100_000, 1_500_000)
    whole = json.dumps(_env(marker, job_body(_job(marker, shop)))).encode()
    return whole[:rng.randint(len(marker) + 20, len(whole) - 1)]


def _bad_utf8(rng: random.Random, marker: str, shop: Shop) -> bytes:
    whole = json.dumps(_env(marker, job_body(_job(marker, shop)))).encode()
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28", b"\x80", b"\xfe\xfe"])
    return whole.replace(f'"{marker}"'.encode(), f'"{marker}'.encode() + bad + b'"', 1)


def _not_object(rng: random.Random, marker: str, shop: Shop) -> bytes:
    return json.dumps(rng.choice([[marker, _env(marker, None)], f"{marker} as a string"])).encode()


def _deep(rng: random.Random, marker: str, shop: Shop) -> bytes:
    depth = rng.randint(2_000, 100_000)
    opening, closing = rng.choice([(b"[", b"]"), (b'{"a": ', b"}")])
    inner = b"1" if opening != b"[" else b""
    return f'{{"cq_fuzz": "{marker}", "x": '.encode() + opening * depth + inner + closing * depth + b"}"


def _object_hook(rng: random.Random, marker: str, shop: Shop) -> bytes:
    env = _env(marker, job_body(_job(marker, shop)))
    env["headers"]["x"] = rng.choice([{"__type__": "uuid", "__value__": "not-a-uuid"},
                                      {"__type__": "nothing-kombu-knows", "__value__": 1},
                                      {"__type__": "datetime", "__value__": 5}])
    return json.dumps(env).encode()


# -- malformed: a field of the envelope dropped or retyped -----------------------------------------------

DROPS: list[tuple[str, ...]] = [
    ("body",), ("properties",), ("properties", "delivery_tag"), ("properties", "delivery_info"),
    ("properties", "delivery_info", "exchange"), ("properties", "delivery_info", "routing_key"),
    ("properties", "body_encoding"), ("headers",), ("headers", "task"), ("headers", "id"), ("content-type",),
]
RETYPES: list[tuple[tuple[str, ...], list[Any]]] = [
    (("properties",), [[], "x", 5, None, True]),
    (("properties", "delivery_tag"), [{}, [], None, True, ""]),
    (("properties", "delivery_info"), ["x", [], 5, None, {}]),
    (("properties", "delivery_info", "exchange"), [None, 5, []]),
    (("properties", "delivery_info", "routing_key"), [None, 5, {}]),
    (("properties", "body_encoding"), ["none", "BASE64", "gzip", 5, [], "base32"]),
    (("body",), [5, [], {}, True, None, ""]),
    (("headers",), ["cancelq.cancel", [], 5, True]),
    (("headers", "task"), [[], {}, 5, None, "", "celery.chord_unlock", "celery.backend_cleanup", "celery.chain",
                           "celery.chord", "celery.starmap", "cancelq.cancle", "x" * 3000]),
    (("headers", "id"), [[], {}, None, True]),
    (("headers", "timelimit"), ["x", [1], 5, ["a", "b"], [1, 2, 3]]),
    (("headers", "eta"), ["not a date", 5, [], {}, "2026-13-45T00:00:00"]),
    (("headers", "expires"), ["x", {}, 5, []]),
    (("headers", "stamped_headers"), [5, True, {"a": 1}]),
    (("headers", "compression"), ["gzip", "nope", 5]),
    (("content-type",), ["", "text/plain", "application/x-python-serialize", "application/x-yaml", 5, None,
                         "application/data"]),
]


def _drop(rng: random.Random, marker: str, shop: Shop) -> Env:
    env = _env(marker, job_body(_job(marker, shop)))
    parent, key = _at(env, rng.choice(DROPS))
    del parent[key]
    return env


def _retype(rng: random.Random, marker: str, shop: Shop) -> Env:
    env = _env(marker, job_body(_job(marker, shop)))
    path, values = rng.choice(RETYPES)
    parent, key = _at(env, path)
    parent[key] = copy.deepcopy(rng.choice(values))
    return env


# -- malformed: the body ----------------------------------------------------------------------------------

def _bad_bodies(job: dict[str, Any]) -> list[Any]:
    return [5, "s", {}, [1], None, [[], {}], True, [[job], {}], [[job], {}, {}, {}], ["x", {}, {}], [[job], [], {}],
            [[job], {}, "embed"], [5, {}, {}], [{"a": 1}, {}, {}], [[job], {}, {**EMBED, "callbacks": 5}],
            [[job], {}, {**EMBED, "chain": "x"}], [[job], {}, {**EMBED, "chord": []}],
            [[job], {}, {**EMBED, "errbacks": [5]}], {"args": "x", "kwargs": {}}, {"args": [job], "kwargs": []},
            [[job], {"a": 1}, EMBED], [[job, job], {}, EMBED], [[job, "x" * 50_000], {}, EMBED]]


def _body(rng: random.Random, marker: str, shop: Shop) -> Env:
    return _env(marker, rng.choice(_bad_bodies(_job(marker, shop))))


def _untraceable_body(rng: random.Random, marker: str, shop: Shop) -> Env:
    return _env(marker, rng.choice([[[], {}, EMBED], [[5], {}, EMBED], [["x"], {}, EMBED], [[None], {}, EMBED]]))


def _encoding(rng: random.Random, marker: str, shop: Shop) -> Env:
    env = _env(marker, None)
    text = json.dumps(job_body(_job(marker, shop)))
    choice = rng.randrange(6)
    if choice == 0:
        env["body"] = text
    elif choice == 1:
        env["body"] = "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=4 * rng.randint(1, 90) + 1))
    elif choice == 2:
        env["body"] = "".join(rng.choices(string.printable, k=rng.randint(1, 400)))
    elif choice == 3:
        env["body"] = base64.b64encode(rng.choice([b"\xff", b"\xc3\x28", b"\x80"]) + text.encode()).decode()
    elif choice == 4:
        depth = rng.randint(2_000, 50_000)
        _rebody(env, "[" * depth + "]" * depth)
    else:
        _rebody(env, json.dumps(rng.choice([[[{"__type__": "datetime", "__value__": 5}], {}, EMBED],
                                            [{"__type__": "bytes", "__value__": "aGk="}, {}, EMBED],
                                            [[{"__type__": "nope", "__value__": 1}], {}, EMBED]])))
    return env


def _job_invalid(rng: random.Random, marker: str, shop: Shop) -> Env:
    job = _job(marker, shop)
    change = rng.randrange(12)
    if change == 0:
        job["reason"] = "BECAUSE"
    elif change == 1:
        job["platform"] = "nope"
    elif change == 2:
        del job["shop"]
    elif change == 3:
        job["order_id"] = rng.choice([5.5, {}, [], None, ""])
    elif change == 4:
        job["note"] = "n" * rng.randint(501, 1_000_000)
    elif change == 5:
        job["extra"] = 1
    elif change == 6:
        job["order_id"] = marker + "\ud800"
    elif change == 7:
        nested: Any = {}
        for _ in range(40):
            nested = {"a": nested}
        job["options"] = nested
    elif change == 8:
        job["shop"] = "no-such-shop"
    elif change == 9:
        job["items"] = 5
    elif change == 10:
        job["dry_run"] = "yes"
    else:
        job["order_id"] = 2**70
    return _env(marker, job_body(job))


Maker = Callable[[random.Random, str, Shop], Any]
MALFORMED: list[tuple[str, int, Maker]] = [
    ("garbage", 3, _garbage), ("bad-utf8", 2, _bad_utf8), ("not-object", 1, _not_object), ("deep", 1, _deep),
    ("object-hook", 1, _object_hook), ("drop", 4, _drop), ("retype", 8, _retype), ("body", 6, _body),
    ("untraceable-body", 1, _untraceable_body), ("encoding", 3, _encoding), ("job", 4, _job_invalid),
]
VALID_WEIGHT = 12


def generate(seed: int, count: int, shops: list[Shop]) -> list[Case]:
    """``count`` cases, the same for the same seed: about a quarter valid, the rest of every malformed kind."""
    rng = random.Random(seed)
    kinds = [("valid", VALID_WEIGHT, None), *MALFORMED]
    weights = [weight for _, weight, _ in kinds]
    cases = []
    for index in range(count):
        marker = f"FZ{seed % 1000:03d}-{index:06d}-"
        name, _, maker = rng.choices(kinds, weights)[0]
        shop = rng.choice(shops)
        if maker is None:
            cases.append(Case("valid", json.dumps(_valid(rng, marker, shop)).encode(), marker, True, shop.platform))
            continue
        made = maker(rng, marker, shop)
        raw = made if isinstance(made, bytes) else json.dumps(made).encode()
        cases.append(Case(name, raw, marker, False, traceable=name != "untraceable-body"))
    return cases
