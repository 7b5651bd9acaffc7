"""OData query options on emulated Graph collections: ``$filter``, ``$select``, ``$top``,
and ``$skiptoken`` paging (``@odata.nextLink``, page size 100 as Graph's, ``$top`` up to 999).

``$filter`` covers what Graph answers on directory objects without advanced queries
(https://learn.microsoft.com/graph/aad-advanced-queries): ``eq`` and ``in`` on a property,
``startswith(prop,'…')``, ``prop/any(x:x eq '…')`` on string collections, joined with ``and``.
String comparison is case-insensitive, as in the directory. Operators Graph has but the emulator
does not (``or``, ``not``, ``ne``, ``endswith``, …) and ``$orderby`` / ``$search`` / ``$expand`` /
``$count`` answer 501: gaps are loud. A property that is not filterable on the type answers Graph's 400
``Request_UnsupportedQuery``. Pure: no request, no response (``context`` applies these to one).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from .errors import bad_request, invalid_filter, not_emulated, unsupported_filter_property

Predicate = Callable[[dict], bool]

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)"
                    r"|(?P<colon>:)|(?P<slash>/)|(?P<word>[A-Za-z0-9_.\-@+]+))")
_NOT_EMULATED_OPS = {"ne", "gt", "ge", "lt", "le", "has"}
_NOT_EMULATED_FUNCS = {"endswith", "contains", "substring", "tolower", "toupper", "length"}


class _Parser:
    def __init__(self, text: str, fields: dict[str, str], type_name: str):
        self.tokens = self._lex(text)
        self.pos = 0
        self.fields = fields              # lowercased name -> canonical name
        self.type_name = type_name

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str]]:
        out, i = [], 0
        text = text.rstrip()
        while i < len(text):
            m = _TOKEN.match(text, i)
            if not m or m.end() == i:
                raise invalid_filter(f"Syntax error at position {i} in '{text}'.")
            out.append((m.lastgroup, m.group(m.lastgroup)))
            i = m.end()
        return out

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None, word: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (word and tok[1].lower() != word):
            raise invalid_filter(f"Syntax error near token {self.pos + 1}.")
        self.pos += 1
        return tok[1]

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def parse(self) -> Predicate:
        pred = self.parse_or()
        if self.peek() is not None:
            raise invalid_filter(f"Syntax error near token {self.pos + 1}.")
        return pred

    def parse_or(self) -> Predicate:
        pred = self.parse_and()
        if self.at_word("or"):
            raise not_emulated("the $filter operator 'or'")
        return pred

    def parse_and(self) -> Predicate:
        preds = [self.parse_term()]
        while self.at_word("and"):
            self.take()
            preds.append(self.parse_term())
        return lambda item: all(p(item) for p in preds)

    def field(self, name: str) -> str:
        canonical = self.fields.get(name.lower())
        if canonical is None:
            raise unsupported_filter_property(name, self.type_name)
        return canonical

    def literal(self):
        kind, value = self.peek() or (None, None)
        if kind == "str":
            self.take()
            return value[1:-1].replace("''", "'")
        if kind == "word":
            self.take()
            return {"true": True, "false": False, "null": None}.get(value.lower(), value)
        raise invalid_filter(f"Expected a literal near token {self.pos + 1}.")

    def parse_term(self) -> Predicate:
        if self.at_word("not"):
            raise not_emulated("the $filter operator 'not'")
        tok = self.peek()
        if tok and tok[0] == "lp":
            self.take()
            pred = self.parse_or()
            self.take("rp")
            return pred
        name = self.take("word")
        if name.lower() in _NOT_EMULATED_FUNCS:
            raise not_emulated(f"the $filter function '{name}'")
        if name.lower() == "startswith":
            self.take("lp")
            prop = self.field(self.take("word"))
            self.take("comma")
            prefix = self.literal()
            self.take("rp")
            return lambda item: isinstance(item.get(prop), str) and \
                item[prop].lower().startswith(str(prefix).lower())
        prop = self.field(name)
        if self.peek() and self.peek()[0] == "slash":
            return self.parse_lambda(prop)
        op = self.take("word").lower()
        if op in _NOT_EMULATED_OPS:
            raise not_emulated(f"the $filter operator '{op}'")
        if op == "in":
            self.take("lp")
            values = [self.literal()]
            while self.peek() and self.peek()[0] == "comma":
                self.take()
                values.append(self.literal())
            self.take("rp")
            return lambda item: any(_equal(item.get(prop), v) for v in values)
        if op != "eq":
            raise invalid_filter(f"Unknown operator '{op}'.")
        value = self.literal()
        return lambda item: _equal(item.get(prop), value)

    def parse_lambda(self, prop: str) -> Predicate:
        self.take("slash")
        kind = self.take("word").lower()
        if kind != "any":
            raise not_emulated(f"the $filter lambda operator '{kind}'")
        self.take("lp")
        var = self.take("word")
        self.take("colon")
        if self.take("word") != var:
            raise invalid_filter("The lambda variable is not used.")
        self.take("word", "eq")
        value = self.literal()
        self.take("rp")
        return lambda item: any(_equal(v, value) for v in (item.get(prop) or []))


def _equal(actual, expected) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    if isinstance(actual, bool) or isinstance(expected, bool) or actual is None or expected is None:
        return actual is expected or actual == expected
    return str(actual).lower() == str(expected).lower()


def compile_filter(text: str, filterable: list[str], type_name: str) -> Predicate:
    fields = {f.lower(): f for f in filterable}
    return _Parser(text, fields, type_name).parse()


# --- $select ----------------------------------------------------------------------------------
def select_fields(raw: str | None, sample: dict | None, known: set[str] | None = None,
                  type_name: str | None = None) -> list[str] | None:
    """The properties ``$select`` (``raw``) names, spelled as the type spells them; None without it."""
    if not raw:
        return None
    names = {k.lower(): k for k in (known or set()) | set(sample or {})}
    out = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        canonical = names.get(part.lower())
        if canonical is None:
            t = type_name or (sample or {}).get("@odata.type", "#microsoft.graph.entity")[1:]
            # NOTE: the OData library's text Graph answers for an unknown $select property.
            raise bad_request("Parsing OData Select and Expand failed: Could not find a property "
                              f"named '{part}' on type '{t}'.")
        out.append(canonical)
    return out


def project(item: dict, select: list[str] | None) -> dict:
    if select is None:
        return dict(item)
    out = {k: item.get(k) for k in select}
    if "@odata.type" in item:
        out = {"@odata.type": item["@odata.type"], **out}
    return out


# --- paging -----------------------------------------------------------------------------------
PAGE_SIZE = 100          # Graph's default page size for directory objects
MAX_TOP = 999            # ... and the largest $top it accepts


def skip_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"emulator-skip:{offset}".encode()).decode().rstrip("=")


def offset_of(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "emulator-skip" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except ValueError:
        raise bad_request("Invalid skip token.") from None


def page_size(raw: str | None) -> int:
    """The page size ``$top`` (``raw``) asks for, Graph's default without it."""
    if raw is None:
        return PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
        # NOTE: Graph's text for a $top outside 1..999 on directory collections.
        raise bad_request(f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} "
                          "inclusive.")
    return int(raw)


def check_unsupported_options(query) -> None:
    """501 for a query option the emulator does not serve (``query``: the request's query)."""
    # $count on directory objects is an advanced query (ConsistencyLevel: eventual): not emulated.
    for option in ("$orderby", "$search", "$expand", "$skip", "$count"):
        if option in query:
            raise not_emulated(f"the query option {option}")
