"""End-to-end tests of the language server (`journey lsp`) with a real LSP client (pytest-lsp).

Every test starts its own server on a temporary copy of examples/ (see conftest.py) and talks
to it over stdio exactly as an editor would: initialize, didOpen/didChange/didClose, requests,
shutdown/exit. Positions are computed from the documents' text, never hard-coded.

Run: python3 -m pytest editors/tests/lsp -q   (JOURNEY_BIN=path/to/journey to test another build)
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest
from lsprotocol import types as T
from pygls.exceptions import JsonRpcException
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage

pytestmark = [
    pytest.mark.asyncio,
    # pytest-lsp checks every result against the client's capabilities (VS Code's here).
    pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning"),
]

CART = "abandoned_cart.journey"
SCHEMA = "schema.journey"
PRICE_DROP = "price_drop.journey"


# MARK: - Helpers


def labels(result) -> list[str]:
    if result is None:
        return []
    items = result.items if isinstance(result, T.CompletionList) else result
    return [i.label for i in items]


async def hover(client, project, name, needle, *, at=0, occurrence=0):
    pos = project.position(name, needle, at=at, occurrence=occurrence)
    return await client.text_document_hover_async(T.HoverParams(text_document=project.doc(name), position=pos))


async def complete(client, project, name, needle, *, at=None, occurrence=0):
    """Completion with the cursor `at` characters into `needle` (default: right after it)."""
    pos = project.position(name, needle, at=len(needle) if at is None else at, occurrence=occurrence)
    return labels(
        await client.text_document_completion_async(T.CompletionParams(text_document=project.doc(name), position=pos))
    )


async def definition(client, project, name, needle, *, at=0, occurrence=0) -> T.Location:
    pos = project.position(name, needle, at=at, occurrence=occurrence)
    result = await client.text_document_definition_async(
        T.DefinitionParams(text_document=project.doc(name), position=pos)
    )
    if isinstance(result, list):
        assert len(result) == 1, result
        result = result[0]
    assert isinstance(result, T.Location), result
    return result


def word_range(project, name, needle, *, occurrence=0) -> T.Range:
    start = project.position(name, needle, occurrence=occurrence)
    return T.Range(start=start, end=T.Position(line=start.line, character=start.character + len(needle)))


def apply_edits(text: str, edits: list[T.TextEdit]) -> str:
    """Applies LSP text edits (UTF-16 positions) to `text`."""
    lines = text.split("\n")

    def offset(p: T.Position) -> int:
        if p.line >= len(lines):
            return len(text)
        before = sum(len(line) + 1 for line in lines[: p.line])
        encoded = lines[p.line].encode("utf-16-le")[: 2 * p.character]
        return before + len(encoded.decode("utf-16-le"))

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


def journey_fmt(journey: str, tmp_path: Path, text: str) -> tuple[int, str]:
    """Runs `journey fmt` on a copy of `text`; returns the exit code and the file afterwards."""
    folder = tmp_path / "fmt"
    folder.mkdir(exist_ok=True)
    f = folder / "doc.journey"
    f.write_text(text, encoding="utf-8")
    proc = subprocess.run([journey, "fmt", str(f)], capture_output=True, text=True, timeout=30)
    return proc.returncode, f.read_text(encoding="utf-8")


async def raw_request(client, method, params, timeout=5.0):
    """Sends a request whose params bypass lsprotocol's types (so they can be malformed);
    returns the result or raises the JSON-RPC error as a pygls JsonRpcException."""
    msg_id = str(uuid.uuid4())
    future: Future = Future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data(JsonRPCRequestMessage(id=msg_id, method=method, jsonrpc="2.0", params=params))
    return await asyncio.wait_for(asyncio.wrap_future(future), timeout)


def raw_notify(client, method, params):
    client.protocol._send_data(JsonRPCNotification(method=method, jsonrpc="2.0", params=params))


def raw_bytes(client, body: bytes):
    """Writes one framed message with an arbitrary body."""
    client.protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def assert_still_answers(client, project):
    result = await hover(client, project, SCHEMA, "first_name", at=1)
    assert result is not None and "first_name: string" in result.contents.value


# MARK: - Lifecycle


async def test_initialize_advertises_capabilities(client):
    result = client.initialize_result
    caps = result.capabilities
    assert result.server_info is not None and result.server_info.name == "journey"
    sync = caps.text_document_sync
    assert isinstance(sync, T.TextDocumentSyncOptions)
    assert sync.open_close is True
    assert sync.change == T.TextDocumentSyncKind.Full
    assert sync.save is not None
    assert caps.hover_provider is True
    assert caps.definition_provider is True
    assert caps.document_symbol_provider is True
    assert caps.document_formatting_provider is True
    assert caps.completion_provider is not None
    assert {".", " "} <= set(caps.completion_provider.trigger_characters or [])


async def test_shutdown_then_exit_ends_with_code_0(client):
    await client.shutdown_async(None)
    client.exit(None)
    code = await asyncio.wait_for(client._server.wait(), 10)
    client.capabilities = None  # already shut down: the fixture's teardown must not try again
    assert code == 0


async def test_exit_without_shutdown_ends_with_code_1(client):
    client.exit(None)
    code = await asyncio.wait_for(client._server.wait(), 10)
    client.capabilities = None
    assert code == 1


# MARK: - Diagnostics


async def test_opening_a_clean_document_reports_nothing(client, project):
    await project.open(CART)
    assert project.diagnostics(CART) == []
    # The whole folder is checked (schema and every journey) and the examples are clean.
    assert project.all_diagnostics() == {}, project.all_diagnostics()


async def test_misspelt_attribute_is_j0203_with_suggestion_at_its_range(client, project):
    text = project.path(CART).read_text().replace("waiting, {profile.first_name}", "waiting, {profile.frist_name}")
    await project.open(CART, text)
    diagnostics = project.diagnostics(CART)
    assert len(diagnostics) == 1, diagnostics
    d = diagnostics[0]
    assert d.code == "J0203"
    assert d.severity == T.DiagnosticSeverity.Error
    assert d.source == "journey"
    assert "`profile.frist_name` is not a profile attribute" in d.message
    assert "did you mean `first_name`" in d.message
    assert d.range == word_range(project, CART, "frist_name")
    # Only that file has a problem.
    assert set(project.all_diagnostics()) == {project.uri(CART)}


async def test_fixing_the_error_with_did_change_clears_diagnostics(client, project):
    good = project.path(CART).read_text()
    await project.open(CART, good.replace("{profile.first_name}", "{profile.frist_name}"))
    assert [d.code for d in project.diagnostics(CART)] == ["J0203"] * good.count("{profile.first_name}")
    await project.change(CART, good)
    # An explicit empty list was published for the file, so the editor clears its squiggles.
    assert project.uri(CART) in project.client.diagnostics
    assert project.diagnostics(CART) == []
    assert project.all_diagnostics() == {}


async def test_closing_an_unsaved_broken_document_reverts_to_the_file_on_disk(client, project):
    good = project.path(CART).read_text()
    await project.open(CART, good.replace("on cart_abandoned as cart", "on cart_abandonned as cart"))
    assert [d.code for d in project.diagnostics(CART)] == ["J0204"]
    assert "did you mean 'cart_abandoned'" in project.diagnostics(CART)[0].message
    await project.close(CART)
    assert project.all_diagnostics() == {}


async def test_diagnostics_use_utf16_columns(client, project):
    # The line holds "€" (3 bytes in UTF-8, 1 UTF-16 unit) before the error.
    text = project.path(PRICE_DROP).read_text().replace("Now {deal.new_price}, was", "Now €{deal.new_prise}, was", 1)
    await project.open(PRICE_DROP, text)
    [d] = project.diagnostics(PRICE_DROP)
    assert d.code == "J0205"
    assert "did you mean 'new_price'" in d.message
    assert d.range == word_range(project, PRICE_DROP, "new_prise")


async def test_a_schema_problem_is_reported_in_the_schema(client, project):
    text = project.path(SCHEMA).read_text().replace("  city: string", "  city: strng")
    await project.open(SCHEMA, text)
    [d] = project.diagnostics(SCHEMA)
    assert d.code == "J0202"
    assert "strng" in d.message
    assert d.range.start.line == project.line_of(SCHEMA, "city: strng")
    assert d.range == word_range(project, SCHEMA, "strng")
    await project.change(SCHEMA, project.path(SCHEMA).read_text())
    assert project.all_diagnostics() == {}


async def test_editing_the_schema_rechecks_the_journeys_that_are_not_open(client, project):
    original = project.path(SCHEMA).read_text()
    await project.open(SCHEMA, original.replace("  first_name: string", "  given_name: string"))
    reported = project.all_diagnostics()
    # the journeys that read it, and the tests that give it (tests/*.journey)
    users = {
        p.as_uri()
        for p in project.root.rglob("*.journey")
        if "profile.first_name" in p.read_text() or (p.parent.name == "tests" and "first_name:" in p.read_text())
    }
    assert users and set(reported) == users
    for uri, diagnostics in reported.items():
        assert diagnostics and all(d.code == "J0203" for d in diagnostics), (uri, diagnostics)
    [first, *_] = reported[project.uri(CART)]
    assert "`profile.first_name` is not a profile attribute" in first.message
    await project.change(SCHEMA, original)
    assert project.all_diagnostics() == {}
    for uri in users:
        assert list(project.client.diagnostics[uri]) == []


async def test_files_changed_on_disk_are_rechecked_on_did_change_watched_files(client, project):
    await project.open(CART)
    extra = project.path("extra.journey")
    extra.write_text('journey extra "Extra" {\n  on order_plaxed\n  exit\n}\n', encoding="utf-8")
    client.workspace_did_change_watched_files(
        T.DidChangeWatchedFilesParams(changes=[T.FileEvent(uri=extra.as_uri(), type=T.FileChangeType.Created)])
    )
    await project.sync()
    codes = [d.code for d in project.client.diagnostics.get(extra.as_uri(), [])]
    assert "J0204" in codes
    extra.unlink()
    client.workspace_did_change_watched_files(
        T.DidChangeWatchedFilesParams(changes=[T.FileEvent(uri=extra.as_uri(), type=T.FileChangeType.Deleted)])
    )
    await project.sync()
    assert project.all_diagnostics() == {}


async def test_did_save_rechecks_the_folder(client, project):
    await project.open(CART)
    birthday = project.path("birthday.journey")
    birthday.write_text(birthday.read_text().replace("profile.first_name", "profile.firstname"), encoding="utf-8")
    client.text_document_did_save(T.DidSaveTextDocumentParams(text_document=project.doc("birthday.journey")))
    await project.sync()
    reported = project.all_diagnostics()
    assert set(reported) == {birthday.as_uri()}
    assert {d.code for d in reported[birthday.as_uri()]} == {"J0203"}


async def test_a_document_in_a_sibling_folder_is_not_part_of_the_project(client, project, workspace):
    sibling = workspace.parent / (workspace.name + "-old")
    sibling.mkdir()
    copy = sibling / CART
    client.text_document_did_open(
        T.DidOpenTextDocumentParams(
            text_document=T.TextDocumentItem(
                uri=copy.as_uri(), language_id="journey", version=1, text=project.path(CART).read_text()
            )
        )
    )
    await project.sync()
    assert project.all_diagnostics() == {}


# MARK: - Hover


async def test_hover_on_a_profile_attribute_gives_its_type(client, project):
    await project.open(CART)
    result = await hover(client, project, CART, "profile.first_name", at=len("profile.fi"))
    assert result is not None
    assert result.contents.kind == T.MarkupKind.Markdown
    assert "profile.first_name: string" in result.contents.value
    line = project.line_of(SCHEMA, "  first_name:") + 1  # 1-based for people
    assert f"schema.journey line {line}" in result.contents.value
    start = project.position(CART, "profile.first_name", at=len("profile."))
    assert result.range == T.Range(start=start, end=T.Position(line=start.line, character=start.character + 10))


async def test_hover_on_an_event_name_lists_its_fields(client, project):
    await project.open(CART)
    result = await hover(client, project, CART, "on cart_abandoned", at=5)
    value = result.contents.value
    assert "event cart_abandoned" in value
    for field in ["cart_id: string", "product_id: string", "product_name: string", "product_image: url", "total: money"]:
        assert field in value
    assert result.range == word_range(project, CART, "cart_abandoned")
    # Also inside a history query.
    result = await hover(client, project, CART, "product_returned", at=3)
    assert "event product_returned { product_id: string }" in result.contents.value


async def test_hover_on_an_alias_names_its_event(client, project):
    await project.open(CART)
    for needle in ["as cart", "{cart.product_name}"]:
        result = await hover(client, project, CART, needle, at=needle.index("cart") + 1)
        assert result is not None, needle
        assert "cart: event cart_abandoned" in result.contents.value


async def test_hover_on_an_alias_field_gives_its_type(client, project):
    await project.open(CART)
    result = await hover(client, project, CART, "cart.product_image", at=len("cart.pr"))
    assert "cart.product_image: url" in result.contents.value
    assert "cart_abandoned" in result.contents.value


async def test_hover_on_a_channel_kind_lists_its_message_fields(client, project):
    await project.open(CART)
    result = await hover(client, project, CART, "  push {", at=3)
    value = result.contents.value
    assert "push" in value
    for field in ["title", "body", "image", "link"]:
        assert f"`{field}`" in value
    assert "profile.push_token" in value  # its address, from the schema
    result = await hover(client, project, CART, "else whatsapp", at=6)
    assert "`text`" in result.contents.value and "profile.whatsapp_opt_in" in result.contents.value


async def test_hover_on_a_keyword_and_on_nothing(client, project):
    await project.open(CART)
    result = await hover(client, project, CART, "  wait 1h", at=3)
    assert "wait" in result.contents.value
    assert await hover(client, project, CART, "# Omnichannel", at=0) is None


async def test_hover_counts_utf16_columns(client, project):
    text = project.path(PRICE_DROP).read_text().replace("Now {deal.new_price}, was", "Now €{deal.new_price}, was", 1)
    await project.open(PRICE_DROP, text)
    result = await hover(client, project, PRICE_DROP, "€{deal.new_price}", at=len("€{deal.ne"))
    assert "deal.new_price: money" in result.contents.value
    start = project.position(PRICE_DROP, "€{deal.new_price}", at=len("€{deal."))
    assert result.range == T.Range(start=start, end=T.Position(line=start.line, character=start.character + 9))


# MARK: - Completion


async def test_completion_after_profile_dot_lists_the_attributes(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "{profile.", occurrence=0)
    assert {"first_name", "email", "push_token", "lifetime_value", "loyalty_tier"} <= set(items)
    assert "cart_id" not in items and "wait" not in items


async def test_completion_after_on_lists_the_events(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "  on ")
    assert {"cart_abandoned", "order_placed", "push_opened", "product_viewed"} <= set(items)
    assert "daily at" in items
    assert "first_name" not in items


async def test_completion_of_events_after_goal_wait_for_and_history_functions(client, project):
    await project.open(CART)
    for needle in ["  goal ", "wait for ", "exists("]:
        items = await complete(client, project, CART, needle)
        assert {"order_placed", "product_returned", "push_opened"} <= set(items), needle


async def test_completion_after_an_alias_dot_lists_the_event_fields(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "{cart.")
    assert set(items) == {"cart_id", "product_id", "product_name", "product_image", "total"}


async def test_completion_in_a_push_block_lists_push_fields(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "    title:", at=4)
    assert set(items) == {"title", "body", "image", "link"}
    items = await complete(client, project, CART, "      subject:", at=6)
    assert set(items) == {"subject", "body", "from"}


async def test_completion_at_statement_start_lists_steps_and_channels(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "  wait 48h", at=2)
    assert {"wait", "wait for", "wait until", "if", "split", "exit"} <= set(items)
    assert {"push", "email", "whatsapp", "sms", "web_push", "in_app", "wallet"} <= set(items)
    # Inside a block too.
    items = await complete(client, project, CART, '    whatsapp "Hi', at=4)
    assert {"wait", "if", "split", "push", "whatsapp"} <= set(items)


async def test_completion_in_an_expression_offers_functions_and_aliases(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "if not ")
    assert {"exists", "count", "profile", "cart", "not"} <= set(items)


async def test_completion_while_typing_in_a_broken_document(client, project):
    good = project.path(CART).read_text()
    # Mid-typing: `image: cart.` (nothing after the dot yet) does not parse.
    await project.open(CART, good.replace("image: cart.product_image", "image: cart."))
    assert project.diagnostics(CART), "a parse error is expected"
    items = await complete(client, project, CART, "image: cart.")
    assert {"cart_id", "product_image"} <= set(items)
    # A new journey being typed, unclosed.
    await project.change(CART, good + '\njourney new_one "New" {\n  on ')
    items = await complete(client, project, CART, 'journey new_one "New" {\n  on ')
    assert "cart_abandoned" in items


async def test_completion_after_else_in_a_fallback_chain_lists_channels(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "} else ")
    assert {"whatsapp", "sms", "email"} <= set(items)
    assert "and" not in items


async def test_completion_at_top_level_lists_declarations(client, project):
    await project.open(CART)
    items = await complete(client, project, CART, "journey abandoned_cart", at=0)
    assert {"journey"} <= set(items)
    assert "wait" not in items and "push" not in items


# MARK: - Definition


async def test_definition_of_a_profile_attribute_is_its_schema_line(client, project):
    await project.open(CART)
    loc = await definition(client, project, CART, "profile.first_name", at=len("profile.f"))
    assert loc.uri == project.uri(SCHEMA)
    assert loc.range == word_range(project, SCHEMA, "first_name")
    assert loc.range.start.line == project.line_of(SCHEMA, "  first_name: string")


async def test_definition_of_an_event_is_its_declaration(client, project):
    await project.open(CART)
    for needle in ["on cart_abandoned", "goal order_placed", "for push_opened", "exists(product_returned"]:
        name = re.split(r"[ (]", needle)[-1]
        loc = await definition(client, project, CART, needle, at=len(needle) - 2)
        assert loc.uri == project.uri(SCHEMA), needle
        assert loc.range.start.line == project.line_of(SCHEMA, f"event {name} "), needle
        assert loc.range == T.Range(
            start=project.position(SCHEMA, f"event {name} ", at=6),
            end=project.position(SCHEMA, f"event {name} ", at=6 + len(name)),
        )


async def test_definition_of_an_alias_is_its_as_binding(client, project):
    await project.open(CART)
    loc = await definition(client, project, CART, "{cart.product_name}", at=2)
    assert loc.uri == project.uri(CART)
    assert loc.range.start == project.position(CART, "as cart", at=3)
    assert loc.range.end == project.position(CART, "as cart", at=7)


async def test_definition_of_an_alias_field_and_a_channel(client, project):
    await project.open(CART)
    loc = await definition(client, project, CART, "cart.product_image", at=len("cart.p"))
    assert loc.uri == project.uri(SCHEMA)
    block = project.text(SCHEMA).index("event cart_abandoned {")
    field = project.text(SCHEMA).index("product_image", block)
    assert loc.range.start.line == project.text(SCHEMA).count("\n", 0, field)
    loc = await definition(client, project, CART, "  push {", at=3)
    assert loc.uri == project.uri(SCHEMA)
    assert loc.range.start.line == project.line_of(SCHEMA, "channel push ")


async def test_definition_of_nothing_is_null(client, project):
    await project.open(CART)
    pos = project.position(CART, "# Omnichannel", at=3)
    result = await client.text_document_definition_async(T.DefinitionParams(text_document=project.doc(CART), position=pos))
    assert not result


# MARK: - Document symbols


async def test_document_symbols_of_a_journey(client, project):
    await project.open(CART)
    symbols = await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=project.doc(CART)))
    assert [(s.name, s.kind) for s in symbols] == [("abandoned_cart", T.SymbolKind.Function)]
    [s] = symbols
    assert s.detail == "Omnichannel abandoned cart recovery"
    assert s.selection_range == word_range(project, CART, "abandoned_cart")
    assert s.range.start.line == project.line_of(CART, "journey abandoned_cart")
    assert s.range.end.line == len(project.text(CART).rstrip("\n").split("\n")) - 1


async def test_document_symbols_of_the_schema(client, project):
    symbols = await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=project.doc(SCHEMA)))
    by_name = {s.name: s for s in symbols}
    profile = by_name["profile"]
    assert profile.kind == T.SymbolKind.Struct
    attributes = {c.name: c.detail for c in profile.children}
    assert attributes["first_name"] == "string"
    assert attributes["email"] == "string?"
    assert len(attributes) == 22
    cart = by_name["cart_abandoned"]
    assert cart.kind == T.SymbolKind.Event
    assert [c.name for c in cart.children] == ["cart_id", "product_id", "product_name", "product_image", "total"]
    assert cart.selection_range == word_range(project, SCHEMA, "cart_abandoned")
    events = [s.name for s in symbols if s.kind == T.SymbolKind.Event]
    assert len(events) == project.text(SCHEMA).count("\nevent ") + project.text(SCHEMA).count("\ncatalog event ")
    assert by_name["push"].kind == T.SymbolKind.Interface
    assert "policy" in by_name
    for s in symbols:  # each selection range sits inside its range
        assert (s.range.start.line, s.range.start.character) <= (s.selection_range.start.line, s.selection_range.start.character)
        assert (s.selection_range.end.line, s.selection_range.end.character) <= (s.range.end.line, s.range.end.character)


async def test_document_symbols_of_every_example(client, project):
    for path in sorted(project.root.glob("*.journey")):
        if path.name == SCHEMA:
            continue
        symbols = await client.text_document_document_symbol_async(
            T.DocumentSymbolParams(text_document=T.TextDocumentIdentifier(uri=path.as_uri()))
        )
        names = re.findall(r"^journey (\w+)", path.read_text(), re.M)
        assert [s.name for s in symbols] == names, path.name


# MARK: - Formatting


def messy(text: str) -> str:
    """The same journey, badly laid out."""
    text = text.replace("  wait 1h", "      wait    1h").replace("    title:", "title :")
    text = text.replace("  goal order_placed", "goal   order_placed")
    return text.replace("\n\n", "\n\n\n")


async def format_document(client, project, name):
    return await client.text_document_formatting_async(
        T.DocumentFormattingParams(text_document=project.doc(name), options=T.FormattingOptions(tab_size=2, insert_spaces=True))
    )


async def test_formatting_matches_journey_fmt(client, project, tmp_path, journey_bin):
    text = messy(project.path(CART).read_text())
    await project.open(CART, text)
    edits = await format_document(client, project, CART)
    assert edits, "a messy document must be reformatted"
    code, expected = journey_fmt(journey_bin, tmp_path, text)
    assert code == 0
    assert apply_edits(text, edits) == expected
    assert expected == project.path(CART).read_text()  # the examples are in canonical form


async def test_formatting_every_example_with_non_ascii_text(client, project, tmp_path, journey_bin):
    for path in sorted(project.root.glob("*.journey")):
        text = messy(path.read_text()).replace("\n  wait", "\n wait")
        name = path.name
        await project.open(name, text)
        edits = await format_document(client, project, name) or []
        code, expected = journey_fmt(journey_bin, tmp_path, text)
        assert code == 0, name
        assert apply_edits(text, edits) == expected, name


async def test_formatting_a_formatted_document_changes_nothing(client, project):
    await project.open(CART)
    assert not await format_document(client, project, CART)


async def test_formatting_a_broken_document_changes_nothing_like_journey_fmt(client, project, tmp_path, journey_bin):
    text = project.path(CART).read_text().replace('title: "Still', 'title: "Still\n')
    await project.open(CART, text)
    assert not await format_document(client, project, CART)
    code, after = journey_fmt(journey_bin, tmp_path, text)
    assert code == 1 and after == text


# MARK: - Broken documents


async def test_an_unclosed_brace_still_gets_diagnostics_and_answers(client, project):
    text = project.path(CART).read_text().rstrip().removesuffix("}")
    await project.open(CART, text)
    diagnostics = project.diagnostics(CART)
    assert any(d.code == "J0102" for d in diagnostics), diagnostics
    # What did parse still answers.
    result = await hover(client, project, CART, "profile.first_name", at=10)
    assert result is not None and "first_name: string" in result.contents.value
    assert "cart_abandoned" in await complete(client, project, CART, "  on ")
    assert {"title", "body"} <= set(await complete(client, project, CART, "    title:", at=4))


async def test_an_unclosed_journey_keeps_its_symbol_and_aliases(client, project):
    text = project.path(CART).read_text().rstrip().removesuffix("}")
    await project.open(CART, text)
    assert any(d.code == "J0102" for d in project.diagnostics(CART))
    symbols = await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=project.doc(CART)))
    assert [s.name for s in symbols] == ["abandoned_cart"]
    assert "cart_id" in await complete(client, project, CART, "{cart.")
    result = await hover(client, project, CART, "{cart.product_name}", at=2)
    assert result is not None and "cart: event cart_abandoned" in result.contents.value


GARBAGE = (
    'journey {{ "unterminated\n'
    "  @@@ ~~~ profile. cart. ))) }}}}\n"
    "on on on as as where\n"
    "\t\u00e9t\u00e9 \U0001f6d2 12:99 2025-13-45 1.2.3 %%%\n"
    "push { title: \n"
    "event { : , }\n"
)


async def test_garbage_gets_diagnostics_and_no_request_fails(client, project):
    name = "garbage.journey"
    await project.open(name, GARBAGE)
    diagnostics = project.diagnostics(name)
    assert diagnostics and all(d.source == "journey" for d in diagnostics)
    assert {d.code[:3] for d in diagnostics} <= {"J00", "J01", "J02", "J03", "J04", "J05"}
    lines = GARBAGE.split("\n")
    doc = project.doc(name)
    for line, content in enumerate(lines + ["", ""]):  # and lines past the end
        width = len(content.encode("utf-16-le")) // 2
        for character in range(0, width + 3):  # and columns past the end of the line
            pos = T.Position(line=line, character=character)
            await client.text_document_hover_async(T.HoverParams(text_document=doc, position=pos))
            await client.text_document_completion_async(T.CompletionParams(text_document=doc, position=pos))
            await client.text_document_definition_async(T.DefinitionParams(text_document=doc, position=pos))
    await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=doc))
    assert not await format_document(client, project, name)
    # The rest of the project is unaffected, and the server still answers.
    assert set(project.all_diagnostics()) == {project.uri(name)}
    await assert_still_answers(client, project)


async def test_an_empty_document(client, project):
    name = "empty.journey"
    await project.open(name, "")
    doc = project.doc(name)
    pos = T.Position(line=0, character=0)
    assert await client.text_document_hover_async(T.HoverParams(text_document=doc, position=pos)) is None
    await client.text_document_completion_async(T.CompletionParams(text_document=doc, position=pos))
    assert not await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=doc))
    assert not await format_document(client, project, name)
    assert project.diagnostics(name) == []


async def test_requests_on_a_document_that_is_not_open_read_it_from_disk(client, project):
    result = await hover(client, project, "birthday.journey", "profile.first_name", at=10)
    assert result is not None and "first_name: string" in result.contents.value
    missing = T.TextDocumentIdentifier(uri=project.uri("no_such_file.journey"))
    pos = T.Position(line=0, character=0)
    assert await client.text_document_hover_async(T.HoverParams(text_document=missing, position=pos)) is None
    assert not await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=missing))


# MARK: - Malformed messages


async def test_an_unknown_method_is_method_not_found(client, project):
    with pytest.raises(JsonRpcException) as error:
        await raw_request(client, "journey/frobnicate", {"x": 1})
    assert error.value.code == -32601
    await assert_still_answers(client, project)


@pytest.mark.parametrize(
    "method, params",
    [
        ("textDocument/hover", {"textDocument": {"uri": "file:///x.journey"}}),  # no position
        ("textDocument/hover", {"position": {"line": 0, "character": 0}}),  # no document
        ("textDocument/completion", {"textDocument": {"uri": "file:///x.journey"}, "position": {"line": "0"}}),
        ("textDocument/definition", []),  # params is not an object
        ("textDocument/documentSymbol", {}),
        ("textDocument/formatting", {"textDocument": {}}),
    ],
)
async def test_bad_params_are_invalid_params(client, project, method, params):
    with pytest.raises(JsonRpcException) as error:
        await raw_request(client, method, params)
    assert error.value.code == -32602
    await assert_still_answers(client, project)


async def test_bad_notifications_are_ignored(client, project):
    raw_notify(client, "textDocument/didOpen", {"textDocument": {"uri": project.uri(CART)}})  # no text
    raw_notify(client, "textDocument/didChange", {"textDocument": {"uri": project.uri(CART)}})
    raw_notify(client, "journey/somethingElse", {"a": 1})
    await assert_still_answers(client, project)
    assert project.all_diagnostics() == {}


async def test_a_body_that_is_not_json_is_a_parse_error(client, project):
    errors = []
    original = client.protocol._handle_response

    def record(msg_id, result=None, error=None):
        if msg_id is None and error is not None:
            errors.append(error)
            return None
        return original(msg_id, result, error)

    client.protocol._handle_response = record
    raw_bytes(client, b"{this is not json")
    await assert_still_answers(client, project)
    assert [e.code for e in errors] == [-32700]


async def test_a_message_without_method_is_an_invalid_request(client, project):
    msg_id = "no-method"
    future: Future = Future()
    client.protocol._request_futures[msg_id] = future
    raw_bytes(client, json.dumps({"jsonrpc": "2.0", "id": msg_id, "params": {}}).encode())
    with pytest.raises(JsonRpcException) as error:
        await asyncio.wait_for(asyncio.wrap_future(future), 5)
    assert error.value.code == -32600
    await assert_still_answers(client, project)


# MARK: - Tests (test "…" { … })

TESTS = "tests/promises.journey"


async def test_tests_are_checked_and_complete_attributes_and_fields(client, project):
    await project.open(TESTS)
    assert project.all_diagnostics() == {}
    # Inside `given profile … { … }`: the profile's attributes.
    items = await complete(client, project, TESTS, "  first_name:", at=2)
    assert {"first_name", "push_token", "whatsapp_opt_in", "loyalty_tier"} <= set(items)
    # Inside `… does EVENT { … }`: that event's fields.
    items = await complete(client, project, TESTS, "    product_name:", at=4)
    assert set(items) == {"cart_id", "product_id", "product_name", "product_image", "total"}
    # At the start of a test's line: its steps.
    items = await complete(client, project, TESTS, "  expect ana is converted", at=2)
    assert {"given profile", "at", "expect", "only journey"} <= set(items)
    # A mistake in a test is a diagnostic like any other.
    broken = project.text(TESTS).replace("given profile ana like shopper", "given profile ana like shoper", 1)
    await project.change(TESTS, broken)
    reported = project.all_diagnostics()
    assert [d.code for d in reported[project.uri(TESTS)]] == ["J0214"]


async def test_a_code_lens_runs_each_test(client, project):
    await project.open(TESTS)
    lenses = await client.text_document_code_lens_async(T.CodeLensParams(text_document=project.doc(TESTS)))
    names = [lens.command.arguments[1] for lens in lenses]
    assert "a buyer on another device gets nothing more" in names and len(names) == 8
    assert all(lens.command.command == "journey.runTest" for lens in lenses)
    result = await client.workspace_execute_command_async(
        T.ExecuteCommandParams(command="journey.runTest", arguments=[project.uri(TESTS), names[0]])
    )
    assert result["passed"] is True, result
    # A test made to fail says which line and why.
    broken = project.text(TESTS).replace('expect ana is converted in abandoned_cart', 'expect ana is waiting in abandoned_cart', 1)
    await project.change(TESTS, broken)
    result = await client.workspace_execute_command_async(
        T.ExecuteCommandParams(command="journey.runTest", arguments=[project.uri(TESTS), names[0]])
    )
    assert result["passed"] is False, result
    assert "expected ana to be waiting in abandoned_cart" in result["failures"][0]["message"]


async def test_hover_and_completion_know_lists_and_builtins(client, project):
    name = "click_and_collect.journey"
    await project.open(name)
    result = await hover(client, project, name, 'format(now + 7d, "EEEE d MMMM")', at=2)
    assert result is not None and "format(VALUE" in result.contents.value, result
    items = await complete(client, project, CART, "if not ")
    assert {"size", "join", "format", "percent", "in", "not in"} <= set(items)
    browse = "browse_abandonment.journey"
    await project.open(browse)
    result = await hover(client, project, browse, "category in profile.interests", at=len("category "))
    assert result is not None and "`ITEM in LIST`" in result.contents.value, result
