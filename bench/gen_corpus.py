#!/usr/bin/env python3
"""Generates a benchmark corpus: the bundled examples' journeys, renamed and repeated until the
project holds at least --lines lines, plus a Lua 5.4 file of about the same lines and bytes that
does comparable work (tables of strings with concatenation, conditions, calls), for `luac -p`."""
import argparse, os, re, shutil

ap = argparse.ArgumentParser()
ap.add_argument("--lines", type=int, default=100_000)
ap.add_argument("--out", default="bench/out")
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
examples = os.path.join(root, "examples")
out = os.path.join(root, args.out) if not os.path.isabs(args.out) else args.out
proj = os.path.join(out, "project")
shutil.rmtree(proj, ignore_errors=True)
os.makedirs(proj)
shutil.copy(os.path.join(examples, "schema.journey"), proj)

journeys = []
for name in sorted(os.listdir(examples)):
    if name.endswith(".journey") and name != "schema.journey":
        journeys.append(open(os.path.join(examples, name), encoding="utf-8").read())

lines = sum(1 for _ in open(os.path.join(proj, "schema.journey"), encoding="utf-8"))
total_bytes = os.path.getsize(os.path.join(proj, "schema.journey"))
copy = 0
chunk, chunk_lines, file_no = [], 0, 0
while lines < args.lines:
    for text in journeys:
        renamed = re.sub(r"^journey (\w+)", lambda m: f"journey {m.group(1)}_{copy}", text, flags=re.M)
        chunk.append(renamed)
        n = renamed.count("\n")
        chunk_lines += n
        lines += n
        total_bytes += len(renamed.encode())
        if chunk_lines >= 2000:
            with open(os.path.join(proj, f"journeys_{file_no:04d}.journey"), "w", encoding="utf-8") as f:
                f.write("\n".join(chunk))
            file_no += 1
            chunk, chunk_lines = [], 0
    copy += 1
if chunk:
    with open(os.path.join(proj, f"journeys_{file_no:04d}.journey"), "w", encoding="utf-8") as f:
        f.write("\n".join(chunk))

# A Lua program of the same shape: one function per journey, one statement per line.
lua_lines, lua = 0, []
i = 0
while lua_lines < lines:
    block = f'''-- journey {i}: reminder with fallback
function journey_{i}(profile, cart, history)
  local first = profile.first_name or "there"
  wait(3600)
  if history.count("product_viewed", {{ category = cart.category, within = 7 * 86400 }}) >= 3 then
    send("push", {{
      title = "Still thinking about " .. cart.product_name .. "?",
      body = "Your cart is waiting, " .. first .. ".",
      image = cart.product_image,
      link = "app://cart/" .. cart.cart_id,
    }}, "whatsapp", "Hi " .. first .. ", your " .. cart.product_name .. " is waiting!")
  elseif profile.lifetime_value > 500 and not history.exists("order_placed", 30 * 86400) then
    send("email", {{ subject = "10% off, today only", body = "Use code CART10, " .. first .. "." }})
  else
    profile.points = (profile.points or 0) + 10
  end
  local opened = wait_for("push_opened", 24 * 3600)
  if opened == nil then
    send("sms", "Hi " .. first .. ", the " .. cart.product_name .. " is still in your cart.")
  end
  return "done"
end
'''
    lua.append(block)
    lua_lines += block.count("\n")
    i += 1
with open(os.path.join(out, "corpus.lua"), "w", encoding="utf-8") as f:
    f.write("".join(lua))
print(f"journey: {lines} lines, {total_bytes} bytes in {file_no + 1} files + schema")
print(f"lua:     {lua_lines} lines, {os.path.getsize(os.path.join(out, 'corpus.lua'))} bytes")
