"""Tests for the VS Code TextMate grammar (editors/vscode/syntaxes/journey.tmLanguage.json).

A small TextMate tokenizer, close enough to vscode-textmate for this grammar, runs the grammar
over every example and checks the scopes of the tokens that matter. It supports what the grammar
uses and nothing more: `match` rules with `captures`, `begin`/`end` regions with nested
`patterns`, `name` and `contentName`, `beginCaptures`/`endCaptures`, and `include` of repository
entries and `$self`. Regexes run on Python's `regex` module, which accepts the Oniguruma subset
the grammar keeps to (lookahead, fixed-length lookbehind, `\\b`, `^`/`$`, classes).

Like vscode-textmate, each line is searched with a trailing "\\n"; at each position the earliest
match wins, ties go to the region's `end` pattern first and then to the earliest rule.

Run: python3 -m pytest editors/tests -q
"""

import json
import re
from pathlib import Path

import pytest

regex = pytest.importorskip("regex")

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR_PATH = ROOT / "editors" / "vscode" / "syntaxes" / "journey.tmLanguage.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.journey"))
EBNF = ROOT / "grammar" / "journey.ebnf"

# Fixtures that must check clean: valid programs, so every keyword in them is a real keyword.
CLEAN_FIXTURES = sorted(
    p
    for p in (ROOT / "Tests" / "Fixtures" / "check").glob("*.journey")
    if p.stem.endswith("_ok")
    or p.stem in {"schema", "brief_example", "alias_scope", "split_precision"}
) + sorted((ROOT / "Tests" / "Conformance").glob("*/*.journey"))


# --------------------------------------------------------------------------------- tokenizer


class GrammarLoop(Exception):
    """The grammar matched without advancing (a zero-width rule that would loop for ever)."""


class Frame:
    def __init__(self, rule, name_scopes, content_scopes, end_re):
        self.rule = rule
        self.name_scopes = name_scopes  # scopes of the begin/end delimiters
        self.content_scopes = content_scopes  # scopes of what is between them
        self.end_re = end_re


class Tokenizer:
    def __init__(self, grammar):
        self.grammar = grammar
        self.repository = grammar.get("repository", {})
        self._compiled = {}
        self._flat = {}

    def compile(self, pattern):
        rx = self._compiled.get(pattern)
        if rx is None:
            rx = self._compiled[pattern] = regex.compile(pattern)
        return rx

    def rules(self, patterns):
        """The match/begin rules of a pattern list, includes resolved, in priority order."""
        key = id(patterns)
        if key not in self._flat:
            out = []
            self._flatten(patterns, out, set())
            self._flat[key] = out
        return self._flat[key]

    def _flatten(self, patterns, out, seen):
        for rule in patterns:
            if "include" in rule:
                ref = rule["include"]
                if ref in ("$self", "$base"):
                    target = self.grammar
                elif ref.startswith("#"):
                    target = self.repository[ref[1:]]
                else:
                    raise NotImplementedError(f"external include {ref!r}")
                if id(target) in seen:
                    continue
                if "match" in target or "begin" in target:
                    out.append(target)
                else:
                    self._flatten(target.get("patterns", []), out, seen | {id(target)})
            elif "match" in rule or "begin" in rule:
                out.append(rule)
            elif "patterns" in rule:
                self._flatten(rule["patterns"], out, seen)

    @staticmethod
    def _scopes(base, name):
        return base + tuple(name.split()) if name else base

    @staticmethod
    def _paint(cells, m, base, captures):
        for i in range(m.start(), m.end()):
            cells[i] = base
        for key in sorted(captures or {}, key=int):
            cap = captures[key]
            if "patterns" in cap:
                raise NotImplementedError("captures with patterns")
            group = int(key)
            if group > m.re.groups:
                continue
            start, end = m.span(group)
            if start < 0 or not cap.get("name"):
                continue
            for i in range(start, end):
                cells[i] = cells[i] + tuple(cap["name"].split())

    def tokenize(self, text):
        """Returns (lines, final stack depth); lines is a list of [(start, end, text, scopes)]."""
        root = (self.grammar["scopeName"],)
        stack = [Frame(self.grammar, root, root, None)]
        lines = []
        for line in text.split("\n"):
            s = line + "\n"
            cells = [None] * len(s)
            pos = 0
            steps = 0
            while pos < len(s):
                steps += 1
                if steps > 20 * len(s) + 100:
                    raise GrammarLoop(f"no progress on line {len(lines) + 1}: {line!r}")
                frame = stack[-1]
                best = None  # (start, rank, kind, rule, match)
                if frame.end_re is not None:
                    m = frame.end_re.search(s, pos)
                    if m:
                        best = (m.start(), -1, "end", None, m)
                for rank, rule in enumerate(self.rules(frame.rule.get("patterns", []))):
                    m = self.compile(rule.get("match") or rule["begin"]).search(s, pos)
                    if m and (best is None or m.start() < best[0]):
                        best = (m.start(), rank, "match" if "match" in rule else "begin", rule, m)
                if best is None:
                    for i in range(pos, len(s)):
                        cells[i] = frame.content_scopes
                    break
                start, _, kind, rule, m = best
                for i in range(pos, start):
                    cells[i] = frame.content_scopes
                if kind == "end":
                    caps = frame.rule.get("endCaptures", frame.rule.get("captures"))
                    self._paint(cells, m, frame.name_scopes, caps)
                    stack.pop()
                elif kind == "match":
                    if m.end() == m.start():
                        raise GrammarLoop(f"zero-width match {rule['match']!r}")
                    base = self._scopes(frame.content_scopes, rule.get("name"))
                    self._paint(cells, m, base, rule.get("captures"))
                else:
                    name_scopes = self._scopes(frame.content_scopes, rule.get("name"))
                    caps = rule.get("beginCaptures", rule.get("captures"))
                    self._paint(cells, m, name_scopes, caps)
                    end = rule["end"]
                    if regex.search(r"\\[1-9]", end):
                        raise NotImplementedError("back-references in end")
                    content = self._scopes(name_scopes, rule.get("contentName"))
                    stack.append(Frame(rule, name_scopes, content, self.compile(end)))
                pos = m.end()
            # merge equal neighbours into tokens, dropping the appended "\n"
            tokens = []
            for i, scopes in enumerate(cells[: len(line)]):
                if tokens and tokens[-1][3] == scopes:
                    st, _, _, sc = tokens[-1]
                    tokens[-1] = (st, i + 1, line[st : i + 1], sc)
                else:
                    tokens.append((i, i + 1, line[i : i + 1], scopes))
            lines.append(tokens)
        return lines, len(stack)


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def grammar():
    return json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizer(grammar):
    return Tokenizer(grammar)


class Tokenized:
    def __init__(self, tokenizer, text):
        self.text = text
        self.source_lines = text.split("\n")
        self.lines, self.depth = tokenizer.tokenize(text)

    def locate(self, line_has, word, nth=1):
        """(line index, column) of the nth occurrence of `word` on the first line containing
        `line_has`; words made of name characters only match whole words."""
        for i, src in enumerate(self.source_lines):
            if line_has in src:
                if re.fullmatch(r"\w+", word):
                    cols = [m.start() for m in re.finditer(r"(?<!\w)" + re.escape(word) + r"(?!\w)", src)]
                else:
                    cols = [m.start() for m in re.finditer(re.escape(word), src)]
                assert len(cols) >= nth, f"{word!r} #{nth} not on line {src!r}"
                return i, cols[nth - 1]
        raise AssertionError(f"no line containing {line_has!r}")

    def token(self, line_has, word, nth=1):
        i, col = self.locate(line_has, word, nth)
        for tok in self.lines[i]:
            if tok[0] <= col < tok[1]:
                return tok
        raise AssertionError("no token")

    def scopes(self, line_has, word, nth=1):
        return self.token(line_has, word, nth)[3]

    def assert_scope(self, line_has, word, scope, nth=1, whole=True):
        tok = self.token(line_has, word, nth)
        assert has(tok[3], scope), (
            f"{word!r} on {line_has!r}: expected {scope}, got {tok[3]}"
        )
        if whole:
            assert tok[2] == word, f"{word!r} on {line_has!r}: token is {tok[2]!r} ({tok[3]})"
        return tok[3]


def has(scopes, prefix):
    """Whether a scope is `prefix` or more specific: `constant.character.escape.journey` is
    satisfied by `constant.character.escape.brace.journey`."""
    base = prefix[: -len(".journey")] if prefix.endswith(".journey") else prefix
    return any(s == prefix or s.startswith(base + ".") for s in scopes)


def reserved_keywords():
    text = EBNF.read_text(encoding="utf-8")
    m = re.search(r"^keyword ::=(.*?)(?:\n\s*\n|/\*)", text, re.S | re.M)
    assert m, "no `keyword ::=` production in grammar/journey.ebnf"
    words = re.findall(r'"([a-z_]+)"', m.group(1))
    assert "journey" in words and "today" in words
    return set(words)


def code_part(scopes):
    """The scopes that apply to a token as code, or None if it is string text or a comment.
    Inside an interpolation, only the scopes below the interpolation count."""
    last_string = max((i for i, s in enumerate(scopes) if s.startswith("string.")), default=-1)
    last_interp = max((i for i, s in enumerate(scopes) if s.startswith("meta.interpolation")), default=-1)
    if any(s.startswith("comment.") for s in scopes):
        return None
    if last_string > last_interp:
        return None
    return scopes[last_interp + 1 :] if last_interp >= 0 else scopes[1:]


LEX = re.compile(
    r"""(?P<ws>\s+)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<number>\d[\w.:%-]*)
      | (?P<punct>[{}()\[\],.:])
      | (?P<op>\?\?|==|!=|<=|>=|[<>+*/=?-])
      | (?P<other>.)""",
    re.X,
)


def check_everything_scoped(tok: Tokenized, where: str):
    """No token is left without a meaningful scope except whitespace, plain identifiers and
    punctuation; every reserved keyword gets a keyword/constant/variable scope."""
    keywords = reserved_keywords()
    problems = []
    for n, line in enumerate(tok.lines, 1):
        for start, end, text, scopes in line:
            code = code_part(scopes)
            if code is None:
                continue
            meaningful = [s for s in code if not s.startswith("meta.")]
            for m in LEX.finditer(text):
                kind, piece = m.lastgroup, m.group()
                if kind == "word" and piece in keywords:
                    if not (has(meaningful, "keyword") or has(meaningful, "constant") or has(meaningful, "variable")):
                        problems.append(f"{where}:{n}: keyword {piece!r} scoped {scopes}")
                elif not meaningful and kind not in ("ws", "word", "punct"):
                    problems.append(f"{where}:{n}: {kind} {piece!r} left unscoped")
    assert not problems, "\n".join(problems[:30])


# -------------------------------------------------------------------------------- tests


def test_grammar_shape(grammar):
    assert grammar["scopeName"] == "source.journey"
    # every include resolves, every regex compiles
    tk = Tokenizer(grammar)

    def walk(node):
        if isinstance(node, dict):
            inc = node.get("include")
            if inc and inc.startswith("#"):
                assert inc[1:] in grammar["repository"], f"dangling include {inc}"
            for key in ("match", "begin", "end"):
                if key in node:
                    tk.compile(node[key])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(grammar)


def test_examples_exist():
    assert len(EXAMPLES) >= 10, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES + CLEAN_FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_token_scoped(tokenizer, path):
    tok = Tokenized(tokenizer, path.read_text(encoding="utf-8"))
    # every region opened in a valid file is closed by its end
    assert tok.depth == 1, f"{path.name}: {tok.depth - 1} region(s) still open at the end"
    check_everything_scoped(tok, path.name)


ALL_JOURNEY_FILES = sorted((ROOT / "Tests").glob("**/*.journey"))


def test_no_loops_on_broken_files(tokenizer):
    """Files with lexical and syntax errors (the checker's fixtures) tokenize without the
    grammar getting stuck."""
    for path in ALL_JOURNEY_FILES:
        tokenizer.tokenize(path.read_text(encoding="utf-8"))


def test_oniguruma_agrees(grammar):
    """With the real Oniguruma (the engine of vscode-textmate), if onigurumacffi is installed,
    the tokens are the same as with `regex`. Optional: `pip install onigurumacffi`."""
    onig = pytest.importorskip("onigurumacffi")

    class OnigMatch:
        def __init__(self, m, rx):
            self.m, self.re = m, rx

        def start(self, g=0):
            return self.m.start(g)

        def end(self, g=0):
            return self.m.end(g)

        def span(self, g=0):
            return (-1, -1) if self.m._begs[g] < 0 else self.m.span(g)

    class OnigRegex:
        def __init__(self, pattern):
            self.pattern = onig.compile(pattern)
            self.groups = regex.compile(pattern).groups

        def search(self, s, pos):
            m = self.pattern.search(s, pos)
            return OnigMatch(m, self) if m else None

    class OnigTokenizer(Tokenizer):
        def compile(self, pattern):
            if pattern not in self._compiled:
                self._compiled[pattern] = OnigRegex(pattern)
            return self._compiled[pattern]

    ours, theirs = Tokenizer(grammar), OnigTokenizer(grammar)
    for path in EXAMPLES + ALL_JOURNEY_FILES:
        text = path.read_text(encoding="utf-8")
        assert ours.tokenize(text) == theirs.tokenize(text), path
    assert ours.tokenize(SNIPPET) == theirs.tokenize(SNIPPET)


def example(tokenizer, name):
    return Tokenized(tokenizer, (ROOT / "examples" / name).read_text(encoding="utf-8"))


def test_abandoned_cart(tokenizer):
    t = example(tokenizer, "abandoned_cart.journey")
    t.assert_scope("journey abandoned_cart", "journey", "keyword.declaration")
    t.assert_scope("journey abandoned_cart", "abandoned_cart", "entity.name.function.journey")
    t.assert_scope("journey abandoned_cart", '"Omnichannel abandoned cart recovery"', "string.quoted.double.journey", whole=False)
    t.assert_scope("on cart_abandoned", "on", "keyword.control.journey")
    t.assert_scope("on cart_abandoned", "cart_abandoned", "entity.name.type.event.journey")
    t.assert_scope("on cart_abandoned", "as", "keyword.control.journey")
    t.assert_scope("on cart_abandoned", "cart", "variable.parameter.alias.journey")
    t.assert_scope("goal order_placed", "goal", "keyword.control.journey")
    t.assert_scope("goal order_placed", "order_placed", "entity.name.type.event.journey")
    t.assert_scope("wait 1h", "wait", "keyword.control.journey")
    t.assert_scope("wait 1h", "1h", "constant.numeric.duration.journey")
    t.assert_scope("  push {", "push", "support.type.channel.journey")
    t.assert_scope("title: ", "title", "variable.other.property.journey")
    t.assert_scope("image: cart.product_image", "product_image", "variable.other.property.journey")
    t.assert_scope("} else whatsapp", "else", "keyword.control.journey")
    t.assert_scope("} else whatsapp", "whatsapp", "support.type.channel.journey")
    # interpolation inside a string
    sc = t.assert_scope("title: \"Still", "cart", "meta.interpolation.journey")
    assert has(sc, "string.quoted.double") and has(sc, "variable.other.property") is False
    t.assert_scope("title: \"Still", "{", "punctuation.section.interpolation.begin.journey")
    t.assert_scope("title: \"Still", "}", "punctuation.section.interpolation.end.journey")
    t.assert_scope("title: \"Still", "product_name", "variable.other.property.journey")
    t.assert_scope("title: \"Still", "?", "string.quoted.double.journey", whole=False)
    assert not has(t.scopes("title: \"Still", "?"), "meta.interpolation")
    t.assert_scope("body: \"Your cart", "profile", "variable.language.profile.journey")
    # wait for ... within ... else
    t.assert_scope("wait for push_opened", "for", "keyword.control.journey")
    t.assert_scope("wait for push_opened", "push_opened", "entity.name.type.event.journey")
    t.assert_scope("wait for push_opened", "within", "keyword.control.journey")
    t.assert_scope("wait for push_opened", "24h", "constant.numeric.duration.journey")
    t.assert_scope("wait for push_opened", "else", "keyword.control.journey")
    t.assert_scope('    whatsapp "Hi', "whatsapp", "support.type.channel.journey")
    # if not exists(... where ... == ... within 30d)
    t.assert_scope("if not exists", "if", "keyword.control.journey")
    t.assert_scope("if not exists", "not", "keyword.operator.logical.journey")
    t.assert_scope("if not exists", "exists", "support.function.history.journey")
    t.assert_scope("if not exists", "product_returned", "entity.name.type.event.journey")
    t.assert_scope("if not exists", "where", "keyword.control.journey")
    t.assert_scope("if not exists", "==", "keyword.operator.comparison.journey")
    t.assert_scope("if not exists", "30d", "constant.numeric.duration.journey")
    t.assert_scope("    email {", "email", "support.type.channel.journey")
    # "10% off" inside a string stays string; a 10% in code is a percentage (see other tests)
    sc = t.scopes('subject: "10%', "10")
    assert has(sc, "string.quoted.double") and not has(sc, "constant.numeric")
    # comments
    t.assert_scope("# Omnichannel abandoned cart", "#", "comment.line.number-sign.journey", whole=False)
    t.assert_scope("goal order_placed", "# buying", "comment.line.number-sign.journey", whole=False)
    sc = t.scopes("goal order_placed", "journey", nth=1)
    assert has(sc, "comment.line.number-sign.journey") and not has(sc, "keyword")


def test_percentages_and_split(tokenizer):
    t = example(tokenizer, "price_drop.journey")
    t.assert_scope("new_price <= old_price", "90%", "constant.numeric.percentage.journey")
    t.assert_scope("new_price <= old_price", "*", "keyword.operator.arithmetic.journey")
    t.assert_scope("new_price <= old_price", "<=", "keyword.operator.comparison.journey")
    t.assert_scope("reentry after 3d", "reentry", "keyword.control.journey")
    t.assert_scope("reentry after 3d", "after", "keyword.other.journey")
    t.assert_scope("reentry after 3d", "3d", "constant.numeric.duration.journey")
    t.assert_scope("  } else web_push {", "web_push", "support.type.channel.journey")
    t.assert_scope("    and not exists(product_returned", "and", "keyword.operator.logical.journey")
    t.assert_scope("for each profile where", "each", "keyword.control.journey")
    w = example(tokenizer, "winback.journey")
    w.assert_scope("split {", "split", "keyword.control.journey")
    w.assert_scope("20% holdout", "20%", "constant.numeric.percentage.journey")
    w.assert_scope("20% holdout", "holdout", "entity.name.label.journey")
    w.assert_scope("80% offer", "80%", "constant.numeric.percentage.journey")
    w.assert_scope("on daily at 10:00", "daily", "keyword.other.journey")
    w.assert_scope("on daily at 10:00", "at", "keyword.other.journey")
    w.assert_scope("on daily at 10:00", "10:00", "constant.numeric.time.journey")
    w.assert_scope("when profile.lifetime_value", "days_since", "support.function.history.journey")
    w.assert_scope("when profile.lifetime_value", "500", "constant.numeric.integer.journey")
    w.assert_scope("when profile.lifetime_value", "and", "keyword.operator.logical.journey")
    w.assert_scope("if sum(order_placed.total", "sum", "support.function.history.journey")
    w.assert_scope("if sum(order_placed.total", "order_placed", "entity.name.type.event.journey")
    w.assert_scope("if sum(order_placed.total", "total", "variable.other.property.journey")
    w.assert_scope("if sum(order_placed.total", "365d", "constant.numeric.duration.journey")
    w.assert_scope("} else if sum", "else", "keyword.control.journey")
    w.assert_scope("} else if sum", "if", "keyword.control.journey")
    w.assert_scope('} else sms "', "sms", "support.type.channel.journey")


def test_nested_string_in_interpolation(tokenizer):
    t = example(tokenizer, "winback.journey")
    line = 'New-season {profile.favorite_brand ?? "favourites"} are in.'
    t.assert_scope(line, "??", "keyword.operator.coalesce.journey")
    inner = t.scopes(line, "favourites")
    # string > interpolation > string
    kinds = [s.split(".")[0] + ("." + s.split(".")[1] if s.startswith("meta.") else "") for s in inner]
    assert kinds.count("string") == 2 and "meta.interpolation" in kinds, inner
    assert kinds.index("meta.interpolation") < len(kinds) - 1 - kinds[::-1].index("string")
    t.assert_scope(line, '"favourites"', "punctuation.definition.string.begin.journey", whole=False)
    # after the interpolation closes, the outer string goes on
    after = t.scopes(line, "are in")
    assert has(after, "string.quoted.double") and not has(after, "meta.interpolation"), after
    # ... and ends at its own quote, after which the line is code again
    i, col = t.locate(line, "are in.")
    last = [tok for tok in t.lines[i] if tok[0] <= col + len("are in.") < tok[1]][0]
    assert last[2] == '"' and has(last[3], "punctuation.definition.string.end"), last


def test_schema(tokenizer):
    t = example(tokenizer, "schema.journey")
    t.assert_scope("profile {", "profile", "keyword.declaration")
    t.assert_scope("  email: string?", "email", "variable.other.property.journey")
    t.assert_scope("  email: string?", "string", "storage.type.primitive.journey")
    t.assert_scope("  email: string?", "?", "keyword.operator.optional.journey")
    t.assert_scope("  email_opt_in: bool", "bool", "storage.type.primitive.journey")
    t.assert_scope("  lifetime_value: money", "money", "storage.type.primitive.journey")
    t.assert_scope("  orders_count: int", "int", "storage.type.primitive.journey")
    t.assert_scope("  last_order_at: time?", "time", "storage.type.primitive.journey")
    t.assert_scope("  birthday: date?", "date", "storage.type.primitive.journey")
    t.assert_scope("  birthday: date?", "birthday", "variable.other.property.journey")
    t.assert_scope("  product_image: url", "url", "storage.type.primitive.journey")
    t.assert_scope("event order_placed {", "event", "keyword.declaration")
    t.assert_scope("event order_placed {", "order_placed", "entity.name.type.event.journey")
    t.assert_scope("event order_placed {", "order_id", "variable.other.property.journey")
    t.assert_scope("event order_placed {", "string", "storage.type.primitive.journey")
    t.assert_scope("event order_placed {", ",", "punctuation.separator.comma.journey")
    t.assert_scope("event push_opened {}", "push_opened", "entity.name.type.event.journey")
    t.assert_scope("channel push address", "channel", "keyword.declaration")
    t.assert_scope("channel push address", "push", "support.type.channel.journey")
    t.assert_scope("channel push address", "address", "keyword.other.journey")
    t.assert_scope("channel push address", "profile", "variable.language.profile.journey")
    t.assert_scope("channel push address", "push_token", "variable.other.property.journey")
    t.assert_scope("channel whatsapp", "consent", "keyword.other.journey")
    t.assert_scope("channel in_app", "in_app", "support.type.channel.journey")
    t.assert_scope("channel web_push", "web_push", "support.type.channel.journey")
    # `email` the attribute after `profile.` is a property, not a channel kind
    t.assert_scope("channel email", "email", "variable.other.property.journey", nth=2)
    t.assert_scope("policy {", "policy", "keyword.declaration")
    for word in ("cap", "messages", "per"):
        t.assert_scope("cap 3 messages per 24h", word, "keyword.other.journey")
    t.assert_scope("cap 3 messages per 24h", "3", "constant.numeric.integer.journey")
    t.assert_scope("cap 3 messages per 24h", "24h", "constant.numeric.duration.journey")
    for word in ("quiet", "hours", "to"):
        t.assert_scope("quiet hours 22:00", word, "keyword.other.journey")
    t.assert_scope("quiet hours 22:00", "22:00", "constant.numeric.time.journey")
    t.assert_scope("quiet hours 22:00", "08:00", "constant.numeric.time.journey")
    # a type name used as an attribute name is a property, not a type
    assert not has(t.scopes("  email_opt_in: bool", "email_opt_in"), "storage")


def test_other_examples(tokenizer):
    t = example(tokenizer, "click_and_collect.journey")
    t.assert_scope("exit on order_cancelled", "exit", "keyword.control.journey")
    t.assert_scope("exit on order_cancelled", "on", "keyword.control.journey")
    t.assert_scope("exit on order_cancelled", "order_cancelled", "entity.name.type.event.journey")
    t.assert_scope("reentry always", "always", "keyword.other.journey")
    t.assert_scope("whatsapp template", "whatsapp", "support.type.channel.journey")
    t.assert_scope("whatsapp template", "template", "keyword.control.journey")
    t.assert_scope("whatsapp template", '"order_ready_for_pickup"', "string.quoted.double.journey", whole=False)
    t.assert_scope("    first_name: profile.first_name", "first_name", "variable.other.property.journey")
    t.assert_scope('} else sms "{profile', "sms", "support.type.channel.journey")
    t.assert_scope('} else sms "{profile', "email", "support.type.channel.journey")
    t.assert_scope("wait until 10:00", "until", "keyword.control.journey")
    t.assert_scope("wait until 10:00", "10:00", "constant.numeric.time.journey")
    t.assert_scope('  sms "Reminder', "sms", "support.type.channel.journey")
    b = example(tokenizer, "birthday.journey")
    b.assert_scope("when profile.next_birthday == today", "when", "keyword.control.journey")
    b.assert_scope("when profile.next_birthday == today", "today", "variable.language.journey")
    b.assert_scope("if profile.wallet_pass_id != none", "none", "constant.language.null.journey")
    b.assert_scope("if profile.wallet_pass_id != none", "!=", "keyword.operator.comparison.journey")
    b.assert_scope("set profile.loyalty_points", "set", "keyword.control.journey")
    b.assert_scope("set profile.loyalty_points", "=", "keyword.operator.assignment.journey")
    b.assert_scope("set profile.loyalty_points", "+", "keyword.operator.arithmetic.journey")
    b.assert_scope("    wallet {", "wallet", "support.type.channel.journey")
    b.assert_scope("      fields: {", "fields", "variable.other.property.journey")
    b.assert_scope("        points: profile", "points", "variable.other.property.journey")
    b.assert_scope("reentry after 300d", "300d", "constant.numeric.duration.journey")
    p = example(tokenizer, "post_purchase.journey")
    p.assert_scope("set profile.last_order_at = now", "now", "variable.language.journey")
    p.assert_scope("wait for order_shipped as shipment", "shipment", "variable.parameter.alias.journey")
    o = example(tokenizer, "web_push_optin.journey")
    o.assert_scope("when (count(", "count", "support.function.history.journey")
    o.assert_scope("when (count(", "product_viewed", "entity.name.type.event.journey")
    o.assert_scope("when (count(", "7d", "constant.numeric.duration.journey")
    o.assert_scope("when (count(", ">=", "keyword.operator.comparison.journey")
    o.assert_scope("  in_app {", "in_app", "support.type.channel.journey")
    o.assert_scope("  in_app {", "{", "punctuation.section.block.begin.journey")
    n = example(tokenizer, "new_arrivals.journey")
    sc = n.assert_scope('body: "{count(new_arrival', "count", "support.function.history.journey")
    assert has(sc, "meta.interpolation")
    n.assert_scope('body: "{count(new_arrival', "where", "keyword.control.journey")
    n.assert_scope('body: "{count(new_arrival', "1d", "constant.numeric.duration.journey")
    n.assert_scope('body: "{count(new_arrival', "new pieces", "string.quoted.double.journey", whole=False)
    assert not has(n.scopes('body: "{count(new_arrival', "new pieces"), "meta.interpolation")
    w = example(tokenizer, "web_push_welcome.journey")
    w.assert_scope("reentry never", "never", "keyword.other.journey")


SNIPPET = r'''# everything the examples do not show
event coupon { code: string, tags: list[string]?, starts: date }
journey coupons {
  on coupon_issued as c where (
    c.discount > 12.5% and   # a comment inside parentheses
    c.code != none
  )
  when today >= 2025-12-24 and last(order_placed).total ?? 0 > 10.50
  if true or false { exit }
  push "Use {{CODE}}: \"{c.code}\"\n{x ?? "y"} done" else email template "digest"
  wait -1h
  sms "oops \q and a lone } brace"
  split { 50% a { wait 1d } 50% { exit } }
}
'''


def test_snippet(tokenizer):
    t = Tokenized(tokenizer, SNIPPET)
    assert t.depth == 1
    t.assert_scope("event coupon", "list", "storage.type.primitive.journey")
    t.assert_scope("event coupon", "[", "punctuation.section.brackets.begin.journey")
    t.assert_scope("event coupon", "date", "storage.type.primitive.journey")
    t.assert_scope("event coupon", "tags", "variable.other.property.journey")
    t.assert_scope("    c.discount", "12.5%", "constant.numeric.percentage.journey")
    t.assert_scope("    c.discount", "# a comment", "comment.line.number-sign.journey", whole=False)
    t.assert_scope("    c.code != none", "none", "constant.language.null.journey")
    t.assert_scope("when today", "2025-12-24", "constant.numeric.date.journey")
    t.assert_scope("when today", "last", "support.function.history.journey")
    t.assert_scope("when today", "order_placed", "entity.name.type.event.journey")
    t.assert_scope("when today", "10.50", "constant.numeric.decimal.journey")
    t.assert_scope("when today", "0", "constant.numeric.integer.journey")
    t.assert_scope("if true or false", "true", "constant.language.boolean.journey")
    t.assert_scope("if true or false", "false", "constant.language.boolean.journey")
    t.assert_scope("if true or false", "or", "keyword.operator.logical.journey")
    t.assert_scope("if true or false", "exit", "keyword.control.journey")
    line = 'push "Use'
    t.assert_scope(line, "{{", "constant.character.escape.journey")
    t.assert_scope(line, "}}", "constant.character.escape.journey")
    assert not has(t.scopes(line, "CODE"), "meta.interpolation")
    t.assert_scope(line, '\\"', "constant.character.escape.journey")
    # (adjacent escapes share one token: same scopes)
    t.assert_scope(line, "\\n", "constant.character.escape.journey", whole=False)
    t.assert_scope(line, "code", "meta.interpolation.journey")
    inner = t.scopes(line, "y")
    assert [s for s in inner if s.startswith("string.")] == ["string.quoted.double.journey"] * 2, inner
    assert has(t.scopes(line, "done"), "string.quoted.double") and not has(t.scopes(line, "done"), "meta.interpolation")
    t.assert_scope(line, "else", "keyword.control.journey")
    t.assert_scope(line, "email", "support.type.channel.journey")
    t.assert_scope(line, "template", "keyword.control.journey")
    t.assert_scope("wait -1h", "-", "keyword.operator.arithmetic.journey")
    t.assert_scope("wait -1h", "1h", "constant.numeric.duration.journey")
    t.assert_scope('sms "oops', "\\q", "invalid.illegal.escape.journey")
    t.assert_scope('sms "oops', "}", "invalid.illegal.lone-brace.journey")
    t.assert_scope("split {", "50%", "constant.numeric.percentage.journey")
    t.assert_scope("split {", "a", "entity.name.label.journey")
    t.assert_scope("split {", "50%", "constant.numeric.percentage.journey", nth=2)
    t.assert_scope("split {", "exit", "keyword.control.journey")
    check_everything_scoped(t, "snippet")


def test_unterminated_string_ends_at_line_end(tokenizer):
    t = Tokenized(tokenizer, 'journey j {\n  push "no end\n  wait 1h\n}\n')
    assert t.depth == 1
    t.assert_scope("wait 1h", "wait", "keyword.control.journey")
    assert not has(t.scopes("wait 1h", "wait"), "string")


def test_reserved_keywords_match_decisions():
    """The reserved words of the grammar are those docs/decisions.md lists (and the
    tmLanguage's `keywords` rule knows every one of them)."""
    words = reserved_keywords()
    decisions = (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
    m = re.search(r"Reserved keywords: (.*?)\.\n", decisions, re.S)
    assert m
    assert set(re.findall(r"[a-z_]+", m.group(1).split("`", 1)[1].rsplit("`", 1)[0])) == words
    g = json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))
    known = set()
    for rule in g["repository"]["keywords"]["patterns"] + g["repository"]["expression-words"]["patterns"]:
        if "match" in rule:
            known |= set(re.findall(r"[a-z_]+", rule["match"].replace("\\b", " ")))
    assert words <= known, words - known


# ------------------------------------------------------------------ the rest of the extension

VSCODE = ROOT / "editors" / "vscode"


def test_package_json():
    pkg = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    assert pkg["name"] == "journey" and pkg["publisher"] == "journey"
    assert pkg["main"] == "./extension.js"
    assert "onLanguage:journey" in pkg["activationEvents"]
    (lang,) = pkg["contributes"]["languages"]
    assert lang["id"] == "journey" and lang["extensions"] == [".journey"]
    assert (VSCODE / lang["configuration"]).is_file()
    (gram,) = pkg["contributes"]["grammars"]
    assert gram["scopeName"] == "source.journey" and (VSCODE / gram["path"]).is_file()
    props = pkg["contributes"]["configuration"]["properties"]
    assert props["journey.server.path"]["default"] == "journey"
    assert props["journey.server.args"]["default"] == ["lsp"]
    assert pkg["dependencies"]["vscode-languageclient"].startswith("^9")


def test_language_configuration_indents_examples_like_the_formatter():
    """The indentation rules reproduce the formatter's indentation of every example."""
    conf = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "#"
    inc = re.compile(conf["indentationRules"]["increaseIndentPattern"])
    dec = re.compile(conf["indentationRules"]["decreaseIndentPattern"])
    word = re.compile(conf["wordPattern"])
    assert word.fullmatch("cart_abandoned") and word.fullmatch("days_since")
    # A line that starts with `and` / `or` goes on with the condition above it (one level in, as
    # the formatter writes it); the line after it is measured from the line it went on from.
    cont = re.compile(r"^\s*(and|or)\b")
    for path in EXAMPLES:
        prev = None
        for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            if cont.match(line):
                assert prev is not None
                got = len(line) - len(line.lstrip())
                assert got == len(prev) - len(prev.lstrip()) + 2, f"{path.name}:{n}: continuation indent {got}"
                continue
            if prev is not None:
                want = len(prev) - len(prev.lstrip()) + (2 if inc.search(prev) else 0)
                want -= 2 if dec.search(line) else 0
                got = len(line) - len(line.lstrip())
                assert got == want, f"{path.name}:{n}: indent {got}, rules give {want}"
            prev = line


def test_extension_js_syntax():
    import shutil
    import subprocess

    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    r = subprocess.run([node, "--check", str(VSCODE / "extension.js")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_tests(tokenizer):
    t = example(tokenizer, "tests/promises.journey")
    t.assert_scope('test "a buyer on another device', "test", "keyword.other.declaration.journey")
    t.assert_scope("given profile ana like shopper", "given", "keyword.other.declaration.journey")
    t.assert_scope("given profile ana like shopper", "like", "keyword.control.journey")
    t.assert_scope("given profile ana like shopper", "shopper", "variable.other.profile.journey")
    t.assert_scope("at 2025-03-03T10:00:00Z ana does cart_abandoned", "2025-03-03T10:00:00Z", "constant.numeric.instant.journey")
    t.assert_scope("at 2025-03-03T10:00:00Z ana does cart_abandoned", "does", "keyword.control.journey")
    t.assert_scope("at 2025-03-03T10:00:00Z ana does cart_abandoned", "cart_abandoned", "entity.name.type.event.journey")
    t.assert_scope("expect ana is converted", "expect", "keyword.control.journey")


def test_lists_and_builtins(tokenizer):
    b = example(tokenizer, "browse_abandonment.journey")
    b.assert_scope("where price >= 50 or category in profile.interests", "in", "keyword.operator.membership.journey")
    c = example(tokenizer, "click_and_collect.journey")
    c.assert_scope('until {format(now + 7d, "EEEE d MMMM")}', "format", "support.function.builtin.journey")
    s = example(tokenizer, "schema.journey")
    s.assert_scope("currency EUR", "currency", "keyword.other.journey")
    s.assert_scope('locale "en-GB"', "locale", "keyword.other.journey")
