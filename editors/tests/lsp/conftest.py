"""Fixtures for the end-to-end tests of `journey lsp` (test_lsp.py), driven by pytest-lsp.

Each test gets a fresh server started as `$JOURNEY_BIN lsp` (default: the debug build,
the debug build beside this repository, .build/debug/journey), initialized
with a temporary copy of examples/ as its workspace folder, and shut down cleanly afterwards.

Needs: pip install -r editors/tests/requirements.txt (pytest-lsp brings pygls and
pytest-asyncio). Without pytest-lsp the LSP tests are not collected, so the other editor tests
still run.

Run: python3 -m pytest editors/tests/lsp -q
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def journey_binary() -> str:
    if os.environ.get("JOURNEY_BIN"):
        return os.environ["JOURNEY_BIN"]
    return str(ROOT / ".build" / "debug" / "journey")


JOURNEY = journey_binary()

try:
    import pytest_lsp
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, LanguageClient
except ImportError:  # pragma: no cover - depends on the environment
    pytest_lsp = None
    # Not installed: skip this folder rather than fail the whole editors/tests run.
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(config, items):
    """Without a built server every LSP test is skipped (visibly), not failed."""
    if os.access(JOURNEY, os.X_OK):
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"no journey binary at {JOURNEY} (build it, or set JOURNEY_BIN)")
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture
def journey_bin() -> str:
    """The `journey` executable under test."""
    return JOURNEY


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A throwaway copy of examples/: the project folder the server analyses."""
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES, root)
    return root


if pytest_lsp is not None:

    @pytest_lsp.fixture(
        config=ClientServerConfig(server_command=[JOURNEY, "lsp"]),
    )
    async def client(lsp_client: LanguageClient, workspace: Path):
        """A pytest-lsp client connected to a running `journey lsp`, initialized on `workspace`."""
        result = await lsp_client.initialize_session(
            types.InitializeParams(
                capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
                root_uri=workspace.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="project")],
            )
        )
        lsp_client.initialize_result = result
        yield
        await lsp_client.shutdown_session()

    class Project:
        """The workspace as the client sees it: open and edit documents, find positions."""

        def __init__(self, client: LanguageClient, root: Path):
            self.client = client
            self.root = root
            self.versions: dict[str, int] = {}
            self.texts: dict[str, str] = {}

        def path(self, name: str) -> Path:
            return self.root / name

        def uri(self, name: str) -> str:
            return self.path(name).as_uri()

        def text(self, name: str) -> str:
            if name in self.texts:
                return self.texts[name]
            return self.path(name).read_text(encoding="utf-8")

        def doc(self, name: str) -> types.TextDocumentIdentifier:
            return types.TextDocumentIdentifier(uri=self.uri(name))

        async def sync(self) -> None:
            """Waits until the server has handled every message sent so far.

            The server answers in order, so once a request's response is back, every
            publishDiagnostics caused by the notifications before it has been received.
            """
            await self.client.text_document_document_symbol_async(
                types.DocumentSymbolParams(text_document=self.doc("schema.journey"))
            )

        async def open(self, name: str, text: str | None = None) -> str:
            text = self.path(name).read_text(encoding="utf-8") if text is None else text
            self.versions[name] = 1
            self.texts[name] = text
            self.client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=self.uri(name), language_id="journey", version=1, text=text
                    )
                )
            )
            await self.sync()
            return self.uri(name)

        async def change(self, name: str, text: str) -> None:
            """Full-document sync (the server advertises TextDocumentSyncKind.Full)."""
            self.versions[name] = self.versions.get(name, 1) + 1
            self.texts[name] = text
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=self.uri(name), version=self.versions[name]
                    ),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                )
            )
            await self.sync()

        async def close(self, name: str) -> None:
            self.texts.pop(name, None)
            self.client.text_document_did_close(
                types.DidCloseTextDocumentParams(text_document=self.doc(name))
            )
            await self.sync()

        def diagnostics(self, name: str) -> list[types.Diagnostic]:
            return list(self.client.diagnostics.get(self.uri(name), []))

        def all_diagnostics(self) -> dict[str, list[types.Diagnostic]]:
            return {uri: list(d) for uri, d in self.client.diagnostics.items() if d}

        def position(self, name: str, needle: str, *, at: int = 0, occurrence: int = 0) -> types.Position:
            """The position of `needle` (its `at`-th character) in the document's text.

            Columns are UTF-16 code units, as LSP counts them.
            """
            text = self.text(name)
            index = -1
            for _ in range(occurrence + 1):
                index = text.index(needle, index + 1)
            index += at
            line = text.count("\n", 0, index)
            line_start = text.rfind("\n", 0, index) + 1
            column = len(text[line_start:index].encode("utf-16-le")) // 2
            return types.Position(line=line, character=column)

        def line_of(self, name: str, needle: str, occurrence: int = 0) -> int:
            return self.position(name, needle, occurrence=occurrence).line

    @pytest.fixture
    def project(client: LanguageClient, workspace: Path) -> Project:
        return Project(client, workspace)
