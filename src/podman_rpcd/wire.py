"""JSON for the polling path, without the cost of `import json`.

`import json` pulls in `re`, `enum` and friends: measured here it nearly
doubles the CPU time of a bare interpreter start, and LuCI polls pullStatus
every second on a router CPU 20-50x slower than a desktop. The json package
is a thin layer over its C accelerator `_json`; we build the same scanner and
encoder from `_json` directly, and fall back to the json package wherever
that is not possible (another Python, a build without `_json`).
"""

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScanContext:
    """The attributes `_json.make_scanner` reads, as json.JSONDecoder has them."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict = {}


def _build():
    try:
        import _json

        scan = _json.make_scanner(_ScanContext())
        encode = _json.make_encoder(
            None, _unserializable, _json.encode_basestring_ascii,
            None, ":", ",", False, False, True,
        )  # fmt: skip
        sample = {"a": [1, 2.5, True, None, "ü\n"]}
        if scan('{"a": [1, 2.5, true, null, "\\u00fc\\n"]}', 0)[0] != sample:
            raise ValueError("_json scanner disagrees")
        if "".join(encode(sample, 0)) != '{"a":[1,2.5,true,null,"\\u00fc\\n"]}':
            raise ValueError("_json encoder disagrees")
    except (ImportError, TypeError, ValueError, AttributeError):
        return None, None
    return scan, encode


def _unserializable(value):
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_scan, _encode = _build()


def loads(text: str):
    """Parse one JSON document; ValueError if text is not exactly that."""
    if _scan is not None:
        try:
            value, end = _scan(text, _skip_space(text, 0))
            if _skip_space(text, end) == len(text):
                return value
        except Exception:  # bad input: the json package explains it below
            pass
    # Bad input, or no fast path: the json package parses and names the error
    # (the bare _json scanner reports errors poorly, e.g. as SystemError).
    import json

    return json.loads(text)


def dumps(value) -> str:
    """Serialize compactly, ASCII only (rpcd and uhttpd pass it through)."""
    if _encode is None:
        import json

        return json.dumps(value, separators=(",", ":"))
    return "".join(_encode(value, 0))


def _skip_space(text: str, index: int) -> int:
    length = len(text)
    while index < length and text[index] in " \t\n\r":
        index += 1
    return index
