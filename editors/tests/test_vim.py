"""Tests for the Vim files (editors/vim): filetype detection, the syntax groups at chosen
positions of the examples, the filetype plugin's settings and the indent file.

Runs `vim -Es` (Ex mode, silent, no vimrc) with editors/vim first on 'runtimepath'. If vim is
missing, `apt-get install -y vim-nox` is tried once; if that fails too, the tests are skipped.

Run: python3 -m pytest editors/tests -q
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VIM_DIR = ROOT / "editors" / "vim"
EXAMPLES = sorted((ROOT / "examples").glob("*.journey"))


def find_vim():
    vim = shutil.which("vim")
    if vim:
        return vim
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "vim-nox"], capture_output=True, timeout=600)
        return shutil.which("vim")
    return None


@pytest.fixture(scope="module")
def vim():
    path = find_vim()
    if not path:
        pytest.skip("vim is not installed and could not be installed")
    return path


def vim_string(s):
    return "'" + s.replace("'", "''") + "'"


def run_vim(vim, tmp_path, body):
    """Runs a Vim script (`body` sets `out`, a list of strings) and returns `out`."""
    out_file = tmp_path / "out.txt"
    script = tmp_path / "test.vim"
    script.write_text(
        "let out = []\n"
        "try\n"
        "  filetype plugin indent on\n"
        "  syntax on\n"
        + body
        + "\ncatch\n"
        "  call add(out, 'ERROR: ' . v:exception . ' at ' . v:throwpoint)\n"
        "endtry\n"
        f"call writefile(out, {vim_string(str(out_file))})\n"
        "qall!\n",
        encoding="utf-8",
    )
    r = subprocess.run(
        [vim, "-Es", "-u", "NONE", "-i", "NONE", "-N", "--cmd", f"set rtp^={VIM_DIR}", "-S", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out_file.exists(), f"vim wrote nothing (rc {r.returncode}): {r.stdout} {r.stderr}"
    out = out_file.read_text(encoding="utf-8").splitlines()
    errors = [line for line in out if line.startswith("ERROR")]
    assert not errors, errors
    return out


def position(path, line_has, word, nth=1):
    """1-based line and byte column of the nth `word` on the first line containing `line_has`."""
    for i, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if line_has in line:
            pattern = r"(?<!\w)" + re.escape(word) + r"(?!\w)" if re.fullmatch(r"\w+", word) else re.escape(word)
            cols = [m.start() for m in re.finditer(pattern, line)]
            assert len(cols) >= nth, f"{word!r} #{nth} not on {line!r}"
            return i, len(line[: cols[nth - 1]].encode("utf-8")) + 1
    raise AssertionError(f"{path.name}: no line containing {line_has!r}")


# (file, line containing, word, nth, accepted syntax groups)
CHECKS = [
    ("abandoned_cart.journey", "# Omnichannel", "Omnichannel", 1, {"journeyComment"}),
    ("abandoned_cart.journey", "journey abandoned_cart", "journey", 1, {"journeyDeclaration"}),
    ("abandoned_cart.journey", "journey abandoned_cart", "abandoned_cart", 1, {"journeyName"}),
    ("abandoned_cart.journey", "journey abandoned_cart", "Omnichannel", 1, {"journeyString"}),
    ("abandoned_cart.journey", "on cart_abandoned", "on", 1, {"journeyControl"}),
    ("abandoned_cart.journey", "on cart_abandoned", "cart_abandoned", 1, {"journeyEventName"}),
    ("abandoned_cart.journey", "on cart_abandoned", "as", 1, {"journeyControl"}),
    ("abandoned_cart.journey", "on cart_abandoned", "cart", 1, {"journeyAlias"}),
    ("abandoned_cart.journey", "goal order_placed", "order_placed", 1, {"journeyEventName"}),
    ("abandoned_cart.journey", "goal order_placed", "buying", 1, {"journeyComment"}),
    ("abandoned_cart.journey", "wait 1h", "wait", 1, {"journeyControl"}),
    ("abandoned_cart.journey", "wait 1h", "1h", 1, {"journeyDuration"}),
    ("abandoned_cart.journey", "  push {", "push", 1, {"journeyChannel"}),
    ("abandoned_cart.journey", 'title: "Still', "title", 1, {"journeyProperty"}),
    ("abandoned_cart.journey", 'title: "Still', "Still", 1, {"journeyString"}),
    ("abandoned_cart.journey", 'title: "Still', "{", 1, {"journeyInterpolationDelim"}),
    ("abandoned_cart.journey", 'title: "Still', "cart", 1, {"journeyInterpolation"}),
    ("abandoned_cart.journey", 'title: "Still', "product_name", 1, {"journeyMember"}),
    ("abandoned_cart.journey", 'title: "Still', "?", 1, {"journeyString"}),
    ("abandoned_cart.journey", 'body: "Your cart', "profile", 1, {"journeyProfile"}),
    ("abandoned_cart.journey", "} else whatsapp", "else", 1, {"journeyConditional"}),
    ("abandoned_cart.journey", "} else whatsapp", "whatsapp", 1, {"journeyChannel", "journeyChannelKind"}),
    ("abandoned_cart.journey", "wait for push_opened", "for", 1, {"journeyControl"}),
    ("abandoned_cart.journey", "wait for push_opened", "push_opened", 1, {"journeyEventName"}),
    ("abandoned_cart.journey", "wait for push_opened", "within", 1, {"journeyControl"}),
    ("abandoned_cart.journey", "wait for push_opened", "24h", 1, {"journeyDuration"}),
    ("abandoned_cart.journey", "if not exists", "if", 1, {"journeyConditional"}),
    ("abandoned_cart.journey", "if not exists", "not", 1, {"journeyLogical"}),
    ("abandoned_cart.journey", "if not exists", "exists", 1, {"journeyHistory"}),
    ("abandoned_cart.journey", "if not exists", "product_returned", 1, {"journeyQueryEvent"}),
    ("abandoned_cart.journey", "if not exists", "where", 1, {"journeyControl"}),
    ("abandoned_cart.journey", "if not exists", "==", 1, {"journeyOperator"}),
    ("abandoned_cart.journey", "if not exists", "30d", 1, {"journeyDuration"}),
    ("abandoned_cart.journey", 'subject: "10%', "10", 1, {"journeyString"}),
    ("schema.journey", "profile {", "profile", 1, {"journeyDeclaration"}),
    ("schema.journey", "  email: string?", "email", 1, {"journeyProperty"}),
    ("schema.journey", "  email: string?", "string", 1, {"journeyType"}),
    ("schema.journey", "  email: string?", "?", 1, {"journeyOptional"}),
    ("schema.journey", "  birthday: date?", "date", 1, {"journeyType"}),
    ("schema.journey", "  push_token: string?", "set", 1, {"journeyComment"}),
    ("schema.journey", "event order_placed", "event", 1, {"journeyDeclaration"}),
    ("schema.journey", "event order_placed", "order_placed", 1, {"journeyEventName"}),
    ("schema.journey", "event order_placed", "money", 1, {"journeyType"}),
    ("schema.journey", "channel whatsapp", "channel", 1, {"journeyDeclaration"}),
    ("schema.journey", "channel whatsapp", "whatsapp", 1, {"journeyChannelKind"}),
    ("schema.journey", "channel whatsapp", "address", 1, {"journeyChannelWord"}),
    ("schema.journey", "channel whatsapp", "consent", 1, {"journeyChannelWord"}),
    ("schema.journey", "channel whatsapp", "profile", 1, {"journeyProfile"}),
    ("schema.journey", "channel email", "email", 2, {"journeyMember"}),
    ("schema.journey", "cap 3 messages", "cap", 1, {"journeyPolicyWord"}),
    ("schema.journey", "cap 3 messages", "3", 1, {"journeyInteger"}),
    ("schema.journey", "cap 3 messages", "24h", 1, {"journeyDuration"}),
    ("schema.journey", "quiet hours", "hours", 1, {"journeyPolicyWord"}),
    ("schema.journey", "quiet hours", "22:00", 1, {"journeyTime"}),
    ("price_drop.journey", "new_price <= old_price", "90%", 1, {"journeyPercentage"}),
    ("price_drop.journey", "reentry after 3d", "after", 1, {"journeyReentryMode"}),
    ("winback.journey", "on daily at", "daily", 1, {"journeyDaily"}),
    ("winback.journey", "on daily at", "at", 1, {"journeyAt"}),
    ("winback.journey", "on daily at", "10:00", 1, {"journeyTime"}),
    ("winback.journey", "20% holdout", "20%", 1, {"journeyPercentage"}),
    ("winback.journey", "20% holdout", "holdout", 1, {"journeySplitLabel"}),
    ("winback.journey", "split {", "split", 1, {"journeyConditional"}),
    ("winback.journey", 'favorite_brand ?? "favourites"', "??", 1, {"journeyOperator"}),
    ("winback.journey", 'favorite_brand ?? "favourites"', "favourites", 1, {"journeyString"}),
    ("winback.journey", 'favorite_brand ?? "favourites"', "are", 1, {"journeyString"}),
    ("birthday.journey", "profile.next_birthday == today", "today", 1, {"journeyBuiltin"}),
    ("birthday.journey", "!= none", "none", 1, {"journeyNone"}),
    ("birthday.journey", "set profile.loyalty_points", "set", 1, {"journeyControl"}),
    ("click_and_collect.journey", "exit on order_cancelled", "exit", 1, {"journeyControl"}),
    ("click_and_collect.journey", "exit on order_cancelled", "order_cancelled", 1, {"journeyEventName"}),
    ("click_and_collect.journey", "whatsapp template", "whatsapp", 1, {"journeyChannel"}),
    ("click_and_collect.journey", "whatsapp template", "template", 1, {"journeyControl"}),
    ("click_and_collect.journey", "wait until 10:00", "until", 1, {"journeyControl"}),
    ("web_push_welcome.journey", "reentry never", "never", 1, {"journeyReentryMode"}),
    ("new_arrivals.journey", 'body: "{count(', "count", 1, {"journeyHistory"}),
    ("new_arrivals.journey", 'body: "{count(', "new_arrival", 1, {"journeyQueryEvent"}),
    ("new_arrivals.journey", 'body: "{count(', "1d", 1, {"journeyDuration"}),
    ("new_arrivals.journey", 'body: "{count(', "pieces", 1, {"journeyString"}),
]


def test_syntax_groups(vim, tmp_path):
    lines = []
    current = None
    for name, line_has, word, nth, _ in CHECKS:
        lnum, col = position(ROOT / "examples" / name, line_has, word, nth)
        if name != current:  # (re-editing the same buffer would leave stale syntax state)
            lines.append(f"execute 'edit ' . fnameescape({vim_string('examples/' + name)})")
            current = name
        lines.append(f"call add(out, synIDattr(synID({lnum}, {col}, 1), 'name'))")
    out = run_vim(vim, tmp_path, "\n".join(lines))
    assert len(out) == len(CHECKS)
    wrong = [
        f"{name}: {word!r} on {line_has!r}: {got or '(none)'}, expected {sorted(want)}"
        for (name, line_has, word, _, want), got in zip(CHECKS, out)
        if got not in want
    ]
    assert not wrong, "\n".join(wrong)


def test_filetype_syntax_and_settings(vim, tmp_path):
    body = []
    for path in EXAMPLES:
        body.append(
            f"execute 'edit ' . fnameescape({vim_string(str(path))})\n"
            "call add(out, json_encode([&filetype, get(b:, 'current_syntax', ''), &commentstring, "
            "&comments, &shiftwidth, &expandtab, &indentexpr]))"
        )
    # sourcing the syntax file again is a no-op (b:current_syntax guard)
    body.append("runtime syntax/journey.vim\ncall add(out, get(b:, 'current_syntax', ''))")
    out = run_vim(vim, tmp_path, "\n".join(body))
    for path, line in zip(EXAMPLES, out):
        ft, syn, cms, com, sw, et, indentexpr = json.loads(line)
        assert (ft, syn) == ("journey", "journey"), path.name
        assert cms == "# %s" and com == ":#", (cms, com)
        assert (sw, et) == (2, 1)
        assert indentexpr.startswith("GetJourneyIndent")
    assert out[-1] == "journey"


def test_every_example_highlighted_without_gaps(vim, tmp_path):
    """Every reserved keyword outside strings and comments gets a syntax group."""
    keywords = set(
        re.findall(
            r'"([a-z]+)"',
            re.search(r"^keyword ::=(.*?)\n\s*\n", (ROOT / "grammar" / "journey.ebnf").read_text(), re.S | re.M).group(1),
        )
    )
    body = []
    expected = []
    for path in EXAMPLES:
        body.append(f"execute 'edit ' . fnameescape({vim_string(str(path))})")
        for lnum, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            for m in re.finditer(r"\b[a-z]+\b", line):
                if m.group() in keywords:
                    col = len(line[: m.start()].encode("utf-8")) + 1
                    body.append(f"call add(out, synIDattr(synID({lnum}, {col}, 1), 'name'))")
                    expected.append((path.name, lnum, m.group()))
    out = run_vim(vim, tmp_path, "\n".join(body))
    assert len(out) == len(expected)
    bad = [f"{f}:{n}: {w!r} has no group" for (f, n, w), got in zip(expected, out) if not got]
    assert not bad, "\n".join(bad)


def test_indent_reproduces_examples(vim, tmp_path):
    """`gg=G` leaves every (formatter-formatted) example unchanged."""
    body = []
    for path in EXAMPLES:
        body.append(
            f"execute 'edit ' . fnameescape({vim_string(str(path))})\n"
            "let before = getline(1, '$')\n"
            "silent normal! gg=G\n"
            "let after = getline(1, '$')\n"
            "let diffs = []\n"
            "for i in range(len(before))\n"
            "  if before[i] !=# after[i]\n"
            "    call add(diffs, (i + 1) . ': ' . after[i])\n"
            "  endif\n"
            "endfor\n"
            f"call add(out, json_encode([{vim_string(path.name)}, diffs]))\n"
            "set nomodified"
        )
    out = run_vim(vim, tmp_path, "\n".join(body))
    bad = [json.loads(line) for line in out if json.loads(line)[1]]
    assert not bad, bad


SNIPPET = r'''event coupon { code: string, tags: list[string]?, starts: date }
journey coupons {
  on coupon_issued as c where (
    c.discount > 12.5% and
    c.code != none
  )
  when today >= 2025-12-24 and last(order_placed).total ?? 0 > 10.50
  push "Use {{CODE}}: \"{c.code}\" {x ?? "y"} done" else email template "digest"
  sms "oops \q and a lone } brace"
}
'''

SNIPPET_CHECKS = [
    ("event coupon", "list", 1, "journeyType"),
    ("event coupon", "date", 1, "journeyType"),
    ("event coupon", "tags", 1, "journeyProperty"),
    ("    c.discount", "12.5%", 1, "journeyPercentage"),
    ("    c.code != none", "none", 1, "journeyNone"),
    ("when today", "2025-12-24", 1, "journeyDate"),
    ("when today", "last", 1, "journeyHistory"),
    ("when today", "order_placed", 1, "journeyQueryEvent"),
    ("when today", "10.50", 1, "journeyDecimal"),
    ('push "Use', "{{", 1, "journeyBraceEscape"),
    ('push "Use', "CODE", 1, "journeyString"),
    ('push "Use', "}}", 1, "journeyBraceEscape"),
    ('push "Use', '\\"', 1, "journeyEscape"),
    ('push "Use', "code", 1, "journeyMember"),
    ('push "Use', '"y"', 1, "journeyString"),
    ('push "Use', "done", 1, "journeyString"),
    ('push "Use', "else", 1, "journeyConditional"),
    ('push "Use', "email", 1, "journeyChannelKind"),
    ('push "Use', "template", 1, "journeyControl"),
    ('push "Use', "digest", 1, "journeyString"),
    ('sms "oops', "\\q", 1, "journeyBadEscape"),
    ('sms "oops', "}", 1, "journeyLoneBrace"),
]


def test_snippet_groups(vim, tmp_path):
    src = tmp_path / "snippet.journey"
    src.write_text(SNIPPET, encoding="utf-8")
    body = [f"execute 'edit ' . fnameescape({vim_string(str(src))})"]
    for line_has, word, nth, _ in SNIPPET_CHECKS:
        lnum, col = position(src, line_has, word, nth)
        body.append(f"call add(out, synIDattr(synID({lnum}, {col}, 1), 'name'))")
    out = run_vim(vim, tmp_path, "\n".join(body))
    wrong = [
        f"{word!r} on {line_has!r}: {got or '(none)'}, expected {want}"
        for (line_has, word, _, want), got in zip(SNIPPET_CHECKS, out)
        if got != want
    ]
    assert not wrong, "\n".join(wrong)


def test_indent_continuation_lines(vim, tmp_path):
    want = "journey x {\n  when (a and\n    b)\n  if x {\n    wait 1h }\n  push {\n    title: \"{ {{\"  # {\n  } else sms \"}\"\n}\n"
    src = tmp_path / "flat.journey"
    src.write_text("\n".join(line.strip() for line in want.split("\n")), encoding="utf-8")
    out = run_vim(
        vim,
        tmp_path,
        f"execute 'edit ' . fnameescape({vim_string(str(src))})\n"
        "silent normal! gg=G\n"
        "let out = getline(1, '$')",
    )
    assert out == want.split("\n")[:-1], out
