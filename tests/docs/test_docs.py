"""The README and docs/ name only what exists in this repository.

For README.md, every docs/*.md and e2e/README.md:

- every command of a shell block (```sh, ```bash, ```shell, ```console) and every inline
  `make ...` runs something that exists: a target of the Makefile, a file of the repository,
  a console script of pyproject.toml, or a well-known tool (`EXTERNAL_COMMANDS`); a path an
  argument names under one of the repository's folders exists;
- every environment variable the docs write is one the code reads: the first column of tables
  headed `variable`, `NAME=value` in commands (`-e NAME=value` for docker too) and
  `UPPER_SNAKE=value` in inline code. Known are the settings'
  variables (`mcp_server.settings._ENV`), the tools' variables of `TOOL_VARIABLES` (each must
  still occur in the file said to read it), and after `make` the Makefile's own variables;
- every relative link points at a file or folder of the repository, and a `#fragment` at a
  heading of that file (GitHub's anchor) or an explicit `<a id="...">`;
- a path in inline code under one of the repository's folders exists, or is git-ignored (made
  at run time, such as `bench/results/` or `local_config/datasources.yaml`).

The tests at the end feed the checker broken text, to show it fails where it should.
"""

from __future__ import annotations

import functools
import pathlib
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mcp_server.core import settings

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "e2e" / "README.md")

EXTERNAL_COMMANDS = frozenset(
    {
        # what the docs tell a user to run, installed by them or by `make` (uv, helm, npm)
        "apt-get", "bash", "cd", "claude", "curl", "docker", "echo", "export", "git", "helm",
        "kind", "kubectl", "npm", "npx", "pytest", "python", "python3", "sh", "sudo", "uv",
    }
)  # fmt: skip
"""Executables the docs may name without their being part of this repository."""

TOOL_VARIABLES = {
    # variable: the file that reads it (checked below, so this list cannot keep a dead name)
    "PROMETHEUS_BIN": "mcp_server/demo/local.py",
    "PROMTOOL_BIN": "mcp_server/demo/local.py",
    "ALERTMANAGER_BIN": "tests/support/alertmanager_process.py",
    "CI": "tests/conftest.py",
    "HYPOTHESIS_SEED": "tests/conftest.py",
    "PROMS_MCP_SOAK_CALLS": "tests/app/test_soak.py",
    "PROMS_MCP_REQUIRE_DOCKER": "tests/image/test_image.py",
    "PROMS_MCP_DOCKER_ROOT": "tests/support/docker_engine.py",
    "DOCKER_HOST": "tests/support/docker_engine.py",
    "PYTHON_IMAGE": "tests/support/image_build.py",
    "HELM": "tests/chart/test_chart.py",
    "CHROMIUM_BIN": "tests/support/browser.py",
    "UPDATE_SCREENSHOTS": "tests/viewer/test_screenshot.py",
}
"""Environment variables read outside the settings: the demo's binaries, the tests' knobs."""

SHELL_VARIABLES = frozenset({"TOKEN"})
"""Variables a doc's own commands set and use (docs/access-control.md's token), read by no code."""

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_PLACEHOLDER = re.compile(r"<([A-Za-z][\w.-]*)>")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_OPERATORS = frozenset({";", "&&", "||", "|", "&", ";;"})


@dataclass(frozen=True)
class Markdown:
    path: pathlib.Path
    prose: tuple[tuple[int, str], ...]  # (line number, text) outside fenced blocks
    blocks: tuple[tuple[int, str, str], ...]  # (line number of the fence, language, text)


def parse(path: pathlib.Path, text: str) -> Markdown:
    prose: list[tuple[int, str]] = []
    blocks: list[tuple[int, str, str]] = []
    fence: tuple[int, str, str] | None = None  # (start, marker, language)
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        opened = _FENCE.match(line)
        if fence is None:
            if opened:
                fence, body = (number, opened.group(2), opened.group(3).lower()), []
            else:
                prose.append((number, line))
        elif line.strip().startswith(fence[1][0] * len(fence[1])) and not line.strip().strip(
            fence[1][0]
        ):
            blocks.append((fence[0], fence[2], "\n".join(body)))
            fence = None
        else:
            body.append(line)
    return Markdown(path, tuple(prose), tuple(blocks))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(document: Markdown) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in document.prose:
        found.update(_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


@functools.cache
def anchors_of(path: pathlib.Path) -> frozenset[str]:
    return anchors(parse(path, path.read_text()))


@functools.cache
def makefile() -> tuple[frozenset[str], frozenset[str]]:
    """The Makefile's targets and its variables."""
    targets: set[str] = set()
    variables: set[str] = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        assigned = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?|:|\+|::)?=", line)
        if assigned:
            variables.add(assigned.group(1))
            continue
        rule = re.match(r"^([A-Za-z0-9_.%/-]+(?:\s+[A-Za-z0-9_.%/-]+)*)\s*::?(?!=)", line)
        if rule:
            targets.update(t for t in rule.group(1).split() if not t.startswith("."))
    return frozenset(targets), frozenset(variables)


@functools.cache
def console_scripts() -> frozenset[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return frozenset(project.get("scripts", {}))


@functools.cache
def known_variables() -> frozenset[str]:
    return frozenset(settings._ENV) | frozenset(TOOL_VARIABLES)


@functools.cache
def top_level_folders() -> frozenset[str]:
    """The repository's tracked top-level folders (`crds`, `tests`, `.ci` ...)."""
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return frozenset(p.split("/", 1)[0] for p in listed if "/" in p)


@functools.cache
def ignored(relative: str) -> bool:
    """git ignores it: made at run time (`bench/results/`, `local_config/datasources.yaml`)."""
    return (
        subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", relative], cwd=ROOT, check=False
        ).returncode
        == 0
    )


def repository_path(word: str) -> str | None:
    """`word` as a path inside the repository, if it names one of its folders."""
    word = word.removeprefix("$PWD/").removeprefix("./").rstrip(".,;")
    head = word.split("/", 1)[0]
    if "/" not in word or head not in top_level_folders() or any(c in word for c in "*{}$<>"):
        return None
    return word


def missing_path(word: str) -> str | None:
    relative = repository_path(word)
    if relative is None or (ROOT / relative).exists() or ignored(relative):
        return None
    return relative.rstrip("/")


# --- commands ---------------------------------------------------------------------------


def command_lines(language: str, text: str) -> Iterator[str]:
    """Logical command lines of a shell block: continuations joined, console output left out."""
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        if language == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if line.strip():
            yield line


def simple_commands(line: str) -> Iterator[list[str]]:
    """The words of each simple command of a line; `$(...)` is checked as a command too."""
    for inner in _SUBSTITUTION.findall(line):
        yield from simple_commands(inner)
    line = _SUBSTITUTION.sub("SUBSTITUTED", _PLACEHOLDER.sub(r"\1", line))
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in lexer:
        if token in _OPERATORS:
            if words:
                yield words
            words = []
        else:
            words.append(token)
    if words:
        yield words


def check_variable(name: str, where: str, *, make: bool = False) -> list[str]:
    if name in known_variables() or (make and name in makefile()[1]):
        return []
    kind = "a Makefile variable nor " if make else ""
    return [f"{where}: {name} is {kind}no variable the code reads"]


def check_make(arguments: list[str], where: str) -> list[str]:
    targets, _ = makefile()
    problems: list[str] = []
    for argument in arguments:
        assigned = _ASSIGNMENT.match(argument)
        if argument.startswith("-"):
            continue
        if assigned:
            problems += check_variable(assigned.group(1), where, make=True)
            problems += [f"{where}: no such path {p}" for p in _paths_in(assigned.group(2))]
        elif argument not in targets:
            problems.append(f"{where}: make has no target {argument!r}")
    return problems


def _paths_in(value: str) -> list[str]:
    found = []
    for part in re.split(r"[\s:=]", value):
        missing = missing_path(part)
        if missing:
            found.append(missing)
    return found


def check_command(words: list[str], where: str) -> list[str]:
    problems: list[str] = []
    while words and words[0] in ("sudo", "export", "env"):
        words = words[1:]
    while words and (assigned := _ASSIGNMENT.match(words[0])):
        name, value = assigned.groups()
        if name not in SHELL_VARIABLES:
            problems += check_variable(name, where)
        problems += [f"{where}: no such path {p}" for p in _paths_in(value)]
        words = words[1:]
    if not words:
        return problems
    executable, arguments = words[0], words[1:]
    if executable == "make":
        return problems + check_make(arguments, where)
    if executable == "uv" and arguments[:1] == ["run"]:
        rest = [a for a in arguments[1:] if not a.startswith("--")]
        return problems + check_command(rest, where)
    if executable in ("python", "python3") and arguments[:1] == ["-m"] and len(arguments) > 1:
        problems += check_module(arguments[1], where)
    if "/" in executable:
        relative = executable.removeprefix("./")
        if not (ROOT / relative).exists() and not relative.startswith((".tools/", ".venv/")):
            problems.append(f"{where}: no such executable {executable}")
    elif executable not in EXTERNAL_COMMANDS and executable not in console_scripts():
        problems.append(f"{where}: unknown command {executable!r}")
    for index, argument in enumerate(arguments):
        if argument in ("-e", "--env") and index + 1 < len(arguments):
            name = arguments[index + 1].split("=", 1)[0]
            if _ENV_NAME.match(name):
                problems += check_variable(name, where)
        problems += [f"{where}: no such path {p}" for p in _paths_in(argument)]
    return problems


def check_module(module: str, where: str) -> list[str]:
    package = module.split(".", 1)[0]
    base = {"proms_operator": ROOT / "operator"}.get(package, ROOT)
    if not (base / package).is_dir():
        return []  # a module of the environment: pytest, http.server ...
    path = base / module.replace(".", "/")
    if path.with_suffix(".py").exists() or (path / "__main__.py").exists():
        return []
    return [f"{where}: no module {module} in the repository"]


# --- the checks of one document ----------------------------------------------------------


def problems_in(document: Markdown) -> list[str]:
    name = document.path.relative_to(ROOT) if document.path.is_relative_to(ROOT) else document.path
    problems: list[str] = []
    for start, language, text in document.blocks:
        if language not in _SHELL_LANGUAGES:
            continue
        for line in command_lines(language, text):
            for words in simple_commands(line):
                problems += check_command(words, f"{name}:{start}")
    in_variable_table = False
    for number, line in document.prose:
        where = f"{name}:{number}"
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else []
        if cells and line.lstrip().startswith("|"):
            if cells[0].lower() == "variable":
                in_variable_table = True
            elif in_variable_table and not set(cells[0]) <= set("-: "):
                for variable in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
                    problems += check_variable(variable, where)
        else:
            in_variable_table = False
        problems += check_inline_code(line, where)
        problems += check_links(document, line, where)
    return problems


def check_inline_code(line: str, where: str) -> list[str]:
    problems: list[str] = []
    for _, code in _INLINE_CODE.findall(line):
        code = code.strip()
        if code.startswith("make "):
            for words in simple_commands(code):
                problems += check_command(words, where)
            continue
        assigned = _ASSIGNMENT.match(code)
        if assigned and _ENV_NAME.match(assigned.group(1)) and "_" in assigned.group(1):
            # UPPER_SNAKE only: `READY=True` in prose is a column of `kubectl get`, not a variable
            problems += check_variable(assigned.group(1), where)
        elif " " not in code:
            missing = missing_path(code)
            if missing:
                problems.append(f"{where}: no such path {missing}")
    return problems


def check_links(document: Markdown, line: str, where: str) -> list[str]:
    problems: list[str] = []
    for target in _LINK.findall(_INLINE_CODE.sub("", line)):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            continue  # https:, mailto: ...
        path_part, _, fragment = target.partition("#")
        if not path_part:
            if fragment not in anchors(document):
                problems.append(f"{where}: link to a missing anchor {target}")
            continue
        linked = (document.path.parent / path_part).resolve()
        if not linked.exists():
            problems.append(f"{where}: link to a missing file {target}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors_of(linked):
            problems.append(f"{where}: link to a missing anchor {target}")
    return problems


# --- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_commands_variables_links_and_paths_in_the_docs_exist(path: pathlib.Path) -> None:
    assert problems_in(parse(path, path.read_text())) == []


def test_the_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text()
    pages = [p.name for p in DOCS if p.parent == ROOT / "docs"]
    unlinked = [name for name in pages if f"(docs/{name}" not in readme]
    assert unlinked == []


def test_the_configuration_reference_has_every_setting() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    assert [v for v in settings._ENV if f"`{v}`" not in reference] == []


@pytest.mark.parametrize(("variable", "reader"), TOOL_VARIABLES.items())
def test_every_tool_variable_is_still_read_where_the_allow_list_says(
    variable: str, reader: str
) -> None:
    source = (ROOT / reader).read_text()
    assert re.search(rf"\b{variable}\b", source), f"{reader} no longer reads {variable}"


def check_text(text: str) -> list[str]:
    return problems_in(parse(ROOT / "docs" / "example.md", text))


def test_the_checker_knows_the_docs_shapes() -> None:
    good = """\
# Title

| variable | default | meaning |
|---|---|---|
| `AUTH_MODE`, `PORT` | unset | what |

See [the reference](configuration.md#the-safety-rule) and [here](#title).
Run `make test PYTEST_ARGS='tests/docs/test_docs.py'` or `AUTH_MODE=none`;
`bench/results/latest.md`.

```sh
TOKEN=$(kubectl create token agent -n agents)   # a comment
LOG_LEVEL=DEBUG proms-mcp serve && curl -s localhost:8080/ready
docker run -e HOST=127.0.0.1 -v "$PWD/local_config/datasources-example.yaml:/x:ro" image
make image PYTHON_IMAGE=<registry>/python:3.11-slim
uv run python -m bench.soak
```
"""
    assert check_text(good) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```sh\nmake imagecheck\n```", "make has no target 'imagecheck'"),
        ("Then `make tests`.", "make has no target 'tests'"),
        ("```sh\nmake test PYTEST_ARG=-x\n```", "PYTEST_ARG is a Makefile variable nor no"),
        ("```bash\nAUTH_MOD=active proms-mcp\n```", "AUTH_MOD is no variable the code reads"),
        ("```sh\ndocker run -e HOTS=0.0.0.0 x\n```", "HOTS is no variable"),
        ("Set `QUERY_TIMEOUTS=5`.", "QUERY_TIMEOUTS is no variable"),
        ("| variable | default |\n|---|---|\n| `MAX_TOKENS` | 1 |", "MAX_TOKENS is no variable"),
        ("```sh\nfrobnicate --all\n```", "unknown command 'frobnicate'"),
        ("```sh\nbash scripts/get-kind.sh\n```", "no such path scripts/get-kind.sh"),
        ("```sh\nkubectl apply -f crds/missing.yaml\n```", "no such path crds/missing.yaml"),
        ("```sh\npython -m bench.nothing\n```", "no module bench.nothing"),
        ("See `tests/test_gone.py`.", "no such path tests/test_gone.py"),
        ("See [x](nowhere.md).", "link to a missing file nowhere.md"),
        ("See [x](configuration.md#no-such-heading).", "missing anchor configuration.md#no-"),
        ("# One\nSee [x](#two).", "missing anchor #two"),
    ],
)
def test_the_checker_finds_what_does_not_exist(text: str, expected: str) -> None:
    problems = check_text(text)
    assert any(expected in p for p in problems), problems
