"""GameLift's service model as botocore ships it, and the checks the fake makes against it.

Every request is validated against the operation's input shape (types, required members, and the length, range,
enum and pattern constraints botocore does not check client-side) and answered with a ``ValidationException`` when it
fails, as the service front door does. Every response and every seeded record is validated against its output shape:
a failure there is a bug in the fake (``FakeResponseInvalid``), never the caller's fault.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator

MODEL = botocore.session.get_session().get_service_model("gamelift")


class GameLiftError(Exception):
    """An error the fake answers the way GameLift does: HTTP status plus a JSON body with ``__type``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class FakeResponseInvalid(AssertionError):
    """The fake built a response its own service model rejects: a bug in the fake, never the caller's fault."""


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _pattern(source: str) -> re.Pattern[str] | None:
    # The model's patterns are Java regexes; the ones GameLift uses compile in Python. Skip any that do not
    # rather than reject valid input.
    if source not in _PATTERNS:
        try:
            _PATTERNS[source] = re.compile(source)
        except re.error:
            _PATTERNS[source] = None
    return _PATTERNS[source]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shape_errors(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every way ``value`` (decoded JSON) disagrees with ``shape``: unknown keys, wrong types, missing required
    members, and min/max/enum/pattern constraints. Empty list means valid."""
    errors: list[str] = []
    _walk(shape, value, path or shape.name, errors)
    return errors


def _walk(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object, got {type(value).__name__}")
            return
        for name in shape.required_members:
            if name not in value:
                errors.append(f"{path}: missing required member {name}")
        for key, item in value.items():
            if key not in shape.members:
                errors.append(f"{path}: unknown member {key!r}")
            elif item is None:
                errors.append(f"{path}.{key}: null is not a value in this protocol; omit the member")
            else:
                _walk(shape.members[key], item, f"{path}.{key}", errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected list, got {type(value).__name__}")
            return
        _check_size(meta, len(value), path, errors, "length")
        for index, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{index}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected map, got {type(value).__name__}")
            return
        _check_size(meta, len(value), path, errors, "size")
        for key, item in value.items():
            _walk(shape.key, key, f"{path} key {key!r}", errors)
            _walk(shape.value, item, f"{path}[{key!r}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected string, got {type(value).__name__}")
            return
        _check_size(meta, len(value), path, errors, "length")
        if "enum" in meta and value not in meta["enum"]:
            errors.append(f"{path}: {value!r} is not one of {meta['enum']}")
        compiled = _pattern(meta["pattern"]) if "pattern" in meta else None
        if compiled is not None and not compiled.search(value):
            errors.append(f"{path}: {value!r} does not match pattern {meta['pattern']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected integer, got {type(value).__name__}")
            return
        _check_size(meta, value, path, errors, "value")
    elif kind in ("float", "double"):
        if not _is_number(value):
            errors.append(f"{path}: expected number, got {type(value).__name__}")
    elif kind == "timestamp":
        # awsJson sends timestamps as epoch seconds; botocore parses numbers (and would also take ISO strings,
        # which the real service does not send).
        if not _is_number(value):
            errors.append(f"{path}: expected epoch-seconds number, got {type(value).__name__}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean, got {type(value).__name__}")
    elif kind == "blob":
        if not isinstance(value, str):
            errors.append(f"{path}: expected base64 string, got {type(value).__name__}")
    else:  # pragma: no cover - the GameLift model uses only the types above
        errors.append(f"{path}: unhandled shape type {kind}")


def _check_size(meta: dict, size: int, path: str, errors: list[str], what: str) -> None:
    if "min" in meta and size < meta["min"]:
        errors.append(f"{path}: {what} {size} is below the minimum {meta['min']}")
    if "max" in meta and size > meta["max"]:
        errors.append(f"{path}: {what} {size} is above the maximum {meta['max']}")


def validate_request(operation: OperationModel, params: dict) -> None:
    """Raise ValidationException (as AWS does) when ``params`` do not fit the operation's input shape."""
    report = ParamValidator().validate(params, operation.input_shape)
    problems = [report.generate_report()] if report.has_errors() else shape_errors(operation.input_shape, params)
    if problems:
        raise GameLiftError("ValidationException", "; ".join(problems))


def validate_response(operation: OperationModel, body: dict) -> None:
    """Raise FakeResponseInvalid when ``body`` does not fit the operation's output shape."""
    problems = shape_errors(operation.output_shape, body) if operation.output_shape else []
    if problems:
        raise FakeResponseInvalid(f"{operation.name} response violates the GameLift model: " + "; ".join(problems))
