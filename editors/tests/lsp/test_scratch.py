import pytest
from lsprotocol import types as T

pytestmark = pytest.mark.asyncio

async def test_explore(client, project):
    print(client.initialize_result)
    await project.open("abandoned_cart.journey")
    print("DIAGS", project.all_diagnostics())
    text = project.text("abandoned_cart.journey").replace("{profile.first_name}.\"", "{profile.frist_name}.\"", 1)
    await project.change("abandoned_cart.journey", text)
    print("DIAGS", project.all_diagnostics())
    name = "abandoned_cart.journey"
    d = project.doc(name)
    for needle, at in [("first_name", 2), ("cart_abandoned", 3), ("cart\n", 1), ("push {", 1), ("product_returned", 2), ("cart.product_name", 1)]:
        pos = project.position(name, needle, at=at)
        h = await client.text_document_hover_async(T.HoverParams(text_document=d, position=pos))
        print("HOVER", needle, h)
        df = await client.text_document_definition_async(T.DefinitionParams(text_document=d, position=pos))
        print("DEF", needle, df)
    syms = await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=d))
    print("SYMS", [(s.name, s.kind) for s in syms])
    syms = await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=project.doc("schema.journey")))
    print("SYMS", [(s.name, s.kind, len(s.children or [])) for s in syms])
