"""Read a quiz YAML file into :mod:`autograder.schema` objects, strictly.

Authors make typos; a quiz that silently drops a misspelt ``feedbak:`` key teaches nothing. So
every problem (bad YAML, unknown or duplicate key, wrong type, missing field, a choice list with
no right answer, a duplicate id, an unknown kind or check, a bad ``schema_version``) raises
:class:`QuizFormatError` naming the file and the line. Line numbers come from PyYAML's composed
node tree, which keeps a mark on every node (``yaml.safe_load`` throws them away).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autograder.schema import (
    QUESTION_TYPES,
    SCHEMA_VERSION,
    Choice,
    Kind,
    Mistake,
    Mutant,
    Question,
    Quiz,
)

_ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# libyaml's parser when PyYAML was built with it (several times faster); both keep node marks.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class QuizFormatError(ValueError):
    """A quiz file is not valid; the message names the file and the line.

    Attributes:
        path: The file.
        line: 1-based line number (0 when unknown).
        problem: The problem without the location.
    """

    def __init__(self, path: str | Path, line: int, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}, line {line}: {problem}")


@dataclass
class _Node:
    """A YAML value with the line it starts on (1-based)."""

    value: Any
    line: int
    # For mappings: the line of each key (a block value starts on the line after its key).
    key_lines: dict[str, int] = field(default_factory=dict)

    def key_line(self, key: str) -> int:
        """Line of a key of this mapping, or of the mapping itself when it is absent."""
        return self.key_lines.get(key, self.line)


class _Reader:
    """Turns composed YAML nodes into :class:`_Node` trees and reports errors at lines."""

    def __init__(self, path: str | Path):
        self.path = path
        self._scalar_loader = yaml.SafeLoader("")

    def fail(self, line: int, problem: str) -> QuizFormatError:
        return QuizFormatError(self.path, line, problem)

    def convert(self, node: yaml.Node) -> _Node:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            mapping: dict[str, _Node] = {}
            key_lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = self._scalar_loader.construct_object(key_node, deep=True)
                key_line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    raise self.fail(key_line, f"keys must be text, found {key!r}")
                if key in mapping:
                    raise self.fail(
                        key_line, f"duplicate key {key!r} (first given on line {key_lines[key]})"
                    )
                key_lines[key] = key_line
                mapping[key] = self.convert(value_node)
            return _Node(mapping, line, key_lines)
        if isinstance(node, yaml.SequenceNode):
            return _Node([self.convert(item) for item in node.value], line)
        return _Node(self._scalar_loader.construct_object(node, deep=True), line)


# A field spec: (required, converter(reader, node) -> value)
_Converter = Callable[[_Reader, _Node, str], Any]


def _text(reader: _Reader, node: _Node, name: str) -> str:
    if not isinstance(node.value, str) or not node.value.strip():
        raise reader.fail(node.line, f"{name!r} must be non-empty text, found {_describe(node)}")
    return node.value.strip("\n")


def _number(reader: _Reader, node: _Node, name: str) -> float:
    if isinstance(node.value, bool) or not isinstance(node.value, int | float):
        raise reader.fail(node.line, f"{name!r} must be a number, found {_describe(node)}")
    return float(node.value)


def _tolerance(reader: _Reader, node: _Node, name: str) -> float:
    value = _number(reader, node, name)
    if value < 0:
        raise reader.fail(node.line, f"{name!r} must not be negative, found {value}")
    return value


def _boolean(reader: _Reader, node: _Node, name: str) -> bool:
    if not isinstance(node.value, bool):
        raise reader.fail(node.line, f"{name!r} must be true or false, found {_describe(node)}")
    return node.value


def _plain(reader: _Reader, node: _Node, name: str) -> Any:
    """Any YAML value, with line information removed."""
    return _strip(node)


def _mapping(reader: _Reader, node: _Node, name: str) -> dict[str, Any]:
    if not isinstance(node.value, dict):
        raise reader.fail(node.line, f"{name!r} must be a mapping, found {_describe(node)}")
    return {key: _strip(value) for key, value in node.value.items()}


def _hints(reader: _Reader, node: _Node, name: str) -> tuple[str, ...]:
    items = _list(reader, node, name)
    if not items:
        raise reader.fail(node.line, f"{name!r} needs at least one hint")
    return tuple(_text(reader, item, f"{name}[{i}]") for i, item in enumerate(items))


def _shape(reader: _Reader, node: _Node, name: str) -> tuple[int | None, ...]:
    # Imported here: answers imports the schema, and the schema must not import checks.
    from autograder.checks.answers import parse_shape

    try:
        return parse_shape(_strip(node))
    except ValueError as exc:
        raise reader.fail(node.line, f"{name!r} is not a shape: {exc}") from None


def _list(reader: _Reader, node: _Node, name: str) -> list[_Node]:
    if not isinstance(node.value, list):
        raise reader.fail(node.line, f"{name!r} must be a list, found {_describe(node)}")
    return node.value


def _describe(node: _Node) -> str:
    value = node.value
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {_strip(node)!r}"


def _strip(node: _Node) -> Any:
    value = node.value
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _fields(
    reader: _Reader,
    node: _Node,
    where: str,
    required: dict[str, _Converter],
    optional: dict[str, _Converter],
) -> dict[str, Any]:
    """Convert a mapping node, refusing unknown keys and reporting missing ones."""
    if not isinstance(node.value, dict):
        raise reader.fail(node.line, f"{where} must be a mapping, found {_describe(node)}")
    allowed = {**required, **optional}
    for key in node.value:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise reader.fail(
                node.key_line(key), f"unknown key {key!r} in {where} (allowed: {known})"
            )
    missing = [key for key in required if key not in node.value]
    if missing:
        raise reader.fail(node.line, f"{where} is missing {', '.join(repr(k) for k in missing)}")
    return {
        key: convert(reader, node.value[key], key)
        for key, convert in allowed.items()
        if key in node.value
    }


def _choices(reader: _Reader, node: _Node, name: str) -> tuple[Choice, ...]:
    items = _list(reader, node, name)
    if len(items) < 2:
        raise reader.fail(node.line, f"{name!r} needs at least two choices")
    choices = []
    for index, item in enumerate(items):
        values = _fields(
            reader,
            item,
            f"choice {index + 1}",
            {"text": _text, "feedback": _text},
            {"correct": _boolean},
        )
        choices.append(Choice(**values))
    texts = [choice.text for choice in choices]
    for index, text in enumerate(texts):
        if text in texts[:index]:
            raise reader.fail(items[index].line, f"choice text {text!r} appears twice")
    return tuple(choices)


def _mistakes(reader: _Reader, node: _Node, name: str) -> tuple[Mistake, ...]:
    return tuple(
        Mistake(
            **_fields(reader, item, f"mistake {i + 1}", {"answer": _plain, "feedback": _text}, {})
        )
        for i, item in enumerate(_list(reader, node, name))
    )


def _mutants(reader: _Reader, node: _Node, name: str) -> tuple[Mutant, ...]:
    return tuple(
        Mutant(**_fields(reader, item, f"mutant {i + 1}", {"answer": _plain, "message": _text}, {}))
        for i, item in enumerate(_list(reader, node, name))
    )


_COMMON_REQUIRED: dict[str, _Converter] = {
    "id": _text,
    "kind": _text,
    "prompt": _text,
    "hints": _hints,
    "solution": _text,
}
_COMMON_OPTIONAL: dict[str, _Converter] = {"topic": _text, "mutants": _mutants}

# Per kind: (required fields, optional fields) beyond the common ones.
_KIND_FIELDS: dict[Kind, tuple[dict[str, _Converter], dict[str, _Converter]]] = {
    Kind.SINGLE_CHOICE: ({"choices": _choices}, {}),
    Kind.MULTIPLE_SELECT: ({"choices": _choices}, {}),
    Kind.NUMERIC: ({"answer": _number}, {"tolerance": _tolerance, "mistakes": _mistakes}),
    Kind.OUTPUT_SHAPE: ({"answer": _shape}, {"code": _text, "mistakes": _mistakes}),
    Kind.PREDICT_OUTPUT: ({"code": _text, "answer": _text}, {"mistakes": _mistakes}),
    Kind.FIX_MODEL: (
        {"starter": _text, "reference": _text, "check": _text},
        {"params": _mapping},
    ),
}


def _question(reader: _Reader, node: _Node, index: int) -> Question:
    where = f"question {index + 1}"
    if not isinstance(node.value, dict):
        raise reader.fail(node.line, f"{where} must be a mapping, found {_describe(node)}")
    kind_node = node.value.get("kind")
    if kind_node is None:
        raise reader.fail(node.line, f"{where} is missing 'kind'")
    try:
        kind = Kind(kind_node.value)
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise reader.fail(
            kind_node.line, f"unknown kind {kind_node.value!r} in {where} (known: {known})"
        ) from None
    required, optional = _KIND_FIELDS[kind]
    values = _fields(
        reader, node, where, {**_COMMON_REQUIRED, **required}, {**_COMMON_OPTIONAL, **optional}
    )
    values.pop("kind")
    id_node = node.value["id"]
    if not _ID_PATTERN.match(values["id"]):
        raise reader.fail(
            id_node.line, f"id {values['id']!r} must be lower-case words joined by hyphens"
        )
    _validate_kind(reader, node, kind, values)
    return QUESTION_TYPES[kind](**values, line=node.line)


def _validate_kind(reader: _Reader, node: _Node, kind: Kind, values: dict[str, Any]) -> None:
    """Rules that involve more than one field."""
    if kind in (Kind.SINGLE_CHOICE, Kind.MULTIPLE_SELECT):
        right = sum(choice.correct for choice in values["choices"])
        line = node.key_line("choices")
        if right == 0:
            raise reader.fail(line, f"question {values['id']!r} has no choice marked correct: true")
        if kind is Kind.SINGLE_CHOICE and right > 1:
            raise reader.fail(
                line,
                f"single_choice question {values['id']!r} has {right} correct choices; "
                "use kind: multiple_select or keep one",
            )
    if kind is Kind.FIX_MODEL:
        from autograder.checks.answers import MODEL_CHECKS

        check_node = node.value["check"]
        spec = MODEL_CHECKS.get(values["check"])
        if spec is None:
            known = ", ".join(sorted(MODEL_CHECKS))
            raise reader.fail(
                check_node.line, f"unknown check {values['check']!r} (registered: {known})"
            )
        params = values.get("params", {})
        unknown = sorted(set(params) - set(spec.params))
        if unknown:
            raise reader.fail(
                node.key_line("params"),
                f"check {values['check']!r} takes no parameter {', '.join(unknown)} "
                f"(it takes: {', '.join(spec.params)})",
            )
        missing = sorted(set(spec.required) - set(params))
        if missing:
            raise reader.fail(
                check_node.line, f"check {values['check']!r} needs params: {', '.join(missing)}"
            )


def parse_quiz(text: str, path: str | Path = "<string>") -> Quiz:
    """Parse quiz YAML text.

    Args:
        text: The YAML document.
        path: The file it came from; its stem names the quiz and messages name it.

    Returns:
        The :class:`Quiz`.

    Raises:
        QuizFormatError: For any problem, naming the file and the line.
    """
    reader = _Reader(path)
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = f"not valid YAML: {exc.problem or exc}"
        if exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            # Where the parser noticed can be a line after the mistake; say where it began.
            problem += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        raise QuizFormatError(path, line, problem) from None
    except yaml.YAMLError as exc:
        raise QuizFormatError(path, 0, f"not valid YAML: {exc}") from None
    if root is None:
        raise QuizFormatError(path, 1, "the file is empty")
    top = reader.convert(root)
    values = _fields(
        reader,
        top,
        "the quiz file",
        {"schema_version": _plain, "title": _text, "questions": _list},
        {"description": _text},
    )
    version = values["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise reader.fail(
            top.key_line("schema_version"),
            f"schema_version {version!r} is not supported (this version reads {SCHEMA_VERSION})",
        )
    nodes = values["questions"]
    if not nodes:
        raise reader.fail(top.key_line("questions"), "'questions' is empty")
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(nodes):
        question = _question(reader, node, index)
        if question.id in seen:
            raise reader.fail(
                node.value["id"].line,
                f"duplicate id {question.id!r} (first used on line {seen[question.id]})",
            )
        seen[question.id] = node.value["id"].line
        questions.append(question)
    return Quiz(
        stem=Path(path).stem, title=values["title"], questions=tuple(questions), path=str(path)
    )


def load_quiz_file(path: str | Path) -> Quiz:
    """Read and parse one quiz file.

    Args:
        path: A ``.yaml`` file.

    Returns:
        The :class:`Quiz`.

    Raises:
        QuizFormatError: When the file is missing, unreadable or invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QuizFormatError(path, 0, f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise QuizFormatError(path, 0, f"the file is not UTF-8 text: {exc.reason}") from None
    return parse_quiz(text, path)
