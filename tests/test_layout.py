"""The layout stays as docs/architecture.md draws it: small modules, short functions, and
FastMCP's and the MCP SDK's private names touched only in protocol/ (import-linter checks
which room imports what; this checks what no import contract can see)."""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import fastmcp
import mcp.server.lowlevel

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "mcp_server", ROOT / "operator" / "proms_operator")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
PROTOCOL = ROOT / "mcp_server" / "protocol"


def modules() -> Iterator[pathlib.Path]:
    for package in PACKAGES:
        yield from sorted(package.rglob("*.py"))


def test_no_module_is_longer_than_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in modules()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_80_lines() -> None:
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def private_names() -> frozenset[str]:
    """Underscore names of FastMCP's server and the SDK's low-level server objects, and the
    SDK lookup we replace: what only the fenced code in protocol/ may touch."""
    server = fastmcp.FastMCP("probe")
    objects: list[object] = [server, type(server), server._mcp_server, mcp.server.lowlevel.Server]
    names = {n for o in objects for n in dir(o) if n.startswith("_") and not n.startswith("__")}
    return frozenset(names | {"get_tool_input_schema"})


def private_uses(path: pathlib.Path, names: frozenset[str]) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in names:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                yield f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "fastmcp",
            "mcp",
            "mcp_types",
        ):
            private = [
                part
                for part in [*(node.module or "").split("."), *(a.name for a in node.names)]
                if part.startswith("_")
            ]
            if private:
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.module} {private}"


def test_private_names_of_fastmcp_and_the_sdk_are_touched_only_in_protocol() -> None:
    names = private_names()
    assert {"_mcp_server", "_extensions"} <= names
    found = [
        use
        for path in modules()
        if not path.is_relative_to(PROTOCOL)
        for use in private_uses(path, names)
    ]
    assert found == []


def test_the_check_finds_private_names_where_they_are() -> None:
    names = private_names()
    fenced = [use for path in sorted(PROTOCOL.rglob("*.py")) for use in private_uses(path, names)]
    assert any("._mcp_server" in use for use in fenced)
    assert any(".get_tool_input_schema" in use for use in fenced)
