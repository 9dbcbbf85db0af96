"""HTML to text, bounded: resiliparse's main-content extractor behind limits on what a page costs.

Pages from a crawl can be built to stall a parser or an extractor (thousands of nested elements,
formatting tags the parser reopens a million times). A linear scan of the tags before parsing and a
count-based check of the parsed tree refuse such a page with the reason (`ExtractionRefused`), the same
way on every run and in both passes over an input, which a timer could not promise.
"""

from __future__ import annotations

import bisect
import re

# --- What HTML costs, and the limits that bound it -------------------------------------------------
#
# Measured here (resiliparse 2.0.1 and its lexbor parser, on 2 shared cores, so +-50%):
#
# The main-content extractor spends 20-50 ns per node for each <div> or <article> around it (its other
# elements cost nothing extra): a chain of 10,000 <div> takes 1.0-1.4 s, of 20,000 5 s, of 10,000 <span>
# or <section> 0.01 s; 20,000 nodes inside 1,000 nested <div> 0.35-0.47 s, whatever their attributes. On
# top of that about 1 us a node: a flat page of 300,000 elements 0.4 s, of 1,000,000 nodes 1.1 s.
#
# The parser is linear for deep nesting (200,000 levels: 0.04 s) but not for formatting tags left open
# or misnested. It reopens unclosed ones wherever text goes on after an element that held them closes:
# "<p>" + 1,000 distinct "<b a=N>" + "<p>x" * 1,000 (13 KB) makes 1,000,000 elements (0.25 s, 420 MB),
# 1,500 and 6,000 of them (86 KB) 9,000,000 (3.6 GB; parsing 3 s, extraction 12 s). And it untangles
# misnested end tags with an "adoption agency" whose time grows faster than the square of the open
# formatting elements and of the stack: 100 distinct <b>, 1,000 <div> and 8,000 "</b>" (38 KB) 31 s.
#
# So a page is refused (extract_failed, with the reason) when one of these is passed. Before parsing, by
# a scan of the tokens that models the tree builder (html_nesting, _TreeModel; linear, deterministic):
#   MAX_HTML_DEPTH     open elements (2,000 nested <div>: 0.05 s to extract);
#   MAX_NESTING_WORK   depth summed over the tokens (tags, text, comments): at most ~1 s of extraction;
#   MAX_HTML_ELEMENTS  elements, counting those the parser adds: a flat page that size, 0.5 s;
#   MAX_REOPENABLE     formatting elements active (after the last marker) summed over the tokens, which
#                      bounds those the parser can reopen even where the model's stack is wrong (on 28,800
#                      constructed pages lexbor never made more elements than start tags, this sum and 32
#                      per formatting end tag, but once by 201): at most ~1,000,000, 0.25 s and 420 MB;
#   MAX_ADOPTION_WORK  stack size times active formatting elements summed over their end tags: the
#                      slowest parse among ~900 constructed pages under it took 0.19 s.
# After parsing, on the tree the extractor gets, so that no markup the scan reads differently from the
# parser can stall a reader (parsed_html_problem): at most MAX_HTML_ELEMENTS elements, and depth summed
# over the nodes within MAX_NESTING_WORK, and no element deeper than MAX_HTML_DEPTH, measured in C for
# most pages and by walking at most _MAX_WALKED_NODES nodes (~1 s) for the others. The worst pages
# found that pass only this check (the scan told to let them through) take 1.0-1.6 s in all: 62 nested
# <div> around 150,000 "<br>x" (walked 0.8 s, extracted 0.7 s). A page costs at most ~3 s; the same page
# gets the same answer in both passes of a run and on resume, which a timer could not promise.
#
# Real pages stay far inside these: on 2,058 HTML pages found on this machine (up to 8.5 MB; docs of
# Rust, Node.js, ...) none was refused; the largest sums were 4.7M (depth), 182,078 (elements), 525,000
# (reopenable) and 1.5M (adoption). The scan costs about 1.8 us a token (0.66 s for an 8.4 MB page of
# 364,000 tags), about as long as the extraction itself (15.4 s against 13.8 s over those pages).
MAX_HTML_DEPTH = 2_000
MAX_NESTING_WORK = 20_000_000
MAX_HTML_ELEMENTS = 300_000
MAX_REOPENABLE = 1_000_000
MAX_ADOPTION_WORK = 40_000_000
_MAX_WALKED_NODES = 400_000

# One token of HTML, as the HTML tokenizer splits it: a comment (ended by "-->" or "--!>", or at once by
# "<!-->" and "<!--->"), a doctype or bogus comment ("<!x ...>", "<?...>", "</1...>") ended by the first
# '>', or a tag. A tag's attribute values may hold '<', '>' and '/' when quoted, and '<' and '/' when not;
# a quote starts a value only after '='. Every alternative either fails at once or runs to its end (or
# to the end of the text), and the quantifiers are possessive, so a scan is linear in the page's size.
_TOKEN = re.compile(
    r"<!--(?:-?>|.*?(?:--!?>|\Z))"
    r"|<[!?][^>]*+(?:>|\Z)"
    r"|</(?![A-Za-z])[^>]*+(?:>|\Z)"
    r"|<(/?)([A-Za-z][^\t\n\f\r />]*+)"
    r"((?:[\t\n\f\r ]++|/(?!>)|[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >]*+))?+)*+)"
    r"(/?)(?:>|\Z)", re.S)
_WS = "\t\n\f\r "
# Where a <script>'s text ends: at the first "</script" that is not inside "<!-- <script> ... </script>",
# which the tokenizer reads as text (its "double escaped" states).
_SCRIPT_MARKS = re.compile(r"<!--|-->|<(/?)script(?=[\t\n\f\r />])", re.I)
_ABRUPT_COMMENT_END = re.compile(r"-*>")
# Elements whose text is not markup, and where it ends: at "</name" followed by a space, '/' or '>' (an end
# tag with attributes still ends it). Not <noscript>: resiliparse parses with scripting off, so it holds
# markup. And not in <svg> or <math>, where <style> or <title> hold markup too.
_RAW_TEXT = frozenset("style xmp iframe noembed noframes title textarea".split())  # and <script>, see above
_RAW_TEXT_END = {name: re.compile(rf"</{name}(?=[\t\n\f\r />])", re.I) for name in _RAW_TEXT}

# The tree builder's categories (WHATWG HTML, "parsing HTML documents"), which lexbor follows.
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr keygen frame "
                  "basefont bgsound command image isindex".split())
_FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
_SPECIAL = frozenset(
    "address applet area article aside base basefont bgsound blockquote body br button caption center col "
    "colgroup dd details dir div dl dt embed fieldset figcaption figure footer form frame frameset h1 h2 h3 h4 "
    "h5 h6 head header hgroup hr html iframe img input keygen li link listing main marquee menu meta nav "
    "noembed noframes noscript object ol p param plaintext pre script search section select source style "
    "summary table tbody td template textarea tfoot th thead title tr track ul wbr xmp".split())
_SCOPE = frozenset("applet caption html table td th marquee object template".split())
_MARKER = frozenset("applet marquee object td th caption template".split())
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_CLOSES_P = frozenset("address article aside blockquote center details dialog dir div dl fieldset figcaption "
                      "figure footer header hgroup main menu nav ol p search section summary ul pre listing "
                      "form".split())
_BLOCK_END = frozenset("address article aside blockquote button center details dialog dir div dl fieldset "
                       "figcaption figure footer header hgroup listing main menu nav ol pre search section "
                       "summary ul form applet marquee object template select".split())
_TABLE_PARTS = frozenset("caption colgroup col tbody thead tfoot tr td th".split())
_TABLE_MODE = frozenset("table tbody thead tfoot tr".split())
_TABLE_CONTEXT = ("table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption", "colgroup", "template")
_IGNORED_START = frozenset("html head body frameset frame".split())
# Start tags after which the text does not go on inside reopened formatting elements (all others, and
# text, "reconstruct the active formatting elements").
_NO_RECONSTRUCT = (_CLOSES_P | _HEADINGS | _TABLE_PARTS | _IGNORED_START | frozenset(
    "li dd dt table hr plaintext base basefont bgsound link meta noframes script style template title "
    "textarea iframe noembed param source track rb rtc rp rt".split()))
# In <svg> and <math> these leave foreign content (as does <font> with color, face or size).
_BREAKOUT = frozenset("b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i "
                      "img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt "
                      "u ul var".split())
_FONT_BREAKOUT = re.compile(r"(?:^|[\t\n\f\r /])(?:color|face|size)(?![^\t\n\f\r /=])", re.I)
_MATHML_TEXT_POINTS = frozenset("mi mo mn ms mtext".split())
_SVG_HTML_POINTS = frozenset("foreignobject desc title".split())
_HTML_ENCODING = re.compile(r"encoding[\t\n\f\r ]*=[\t\n\f\r ]*[\"']?(?:text/html|application/xhtml\+xml)"
                            r"(?:[\"'\t\n\f\r />]|$)", re.I)


class _Refused(Exception):
    pass


class _Entry:
    """One entry in the list of active formatting elements: the element it reopens when it is not open."""

    __slots__ = ("key", "name", "element", "removed")

    def __init__(self, key: str, name: str, element: list):
        self.key, self.name, self.element, self.removed = key, name, element, False


class _Group:
    """The active formatting elements after one marker (each table cell, caption, object, ... opens one)."""

    __slots__ = ("entries", "by_key", "by_name", "live")

    def __init__(self):
        self.entries: list[_Entry] = []
        self.by_key: dict[str, list[_Entry]] = {}
        self.by_name: dict[str, dict[int, _Entry]] = {}
        self.live = 0


# An open element is a list (cheaper to make than an object): its name, namespace ("" for HTML, "svg",
# "math"), index on the stack, whether it is still open, whether it is an HTML (1) or MathML text (2)
# integration point, and the index of the nearest HTML element at or below it.
_NAME, _NS, _INDEX, _OPEN, _POINT, _HTML_BELOW = range(6)

# What a start tag does, and what an end tag does, by name (anything else: _GENERIC, _ANY_OTHER).
(_GENERIC, _FORMAT, _VOID_REOPEN, _VOID_ONLY, _HR, _COL, _CLOSE_P, _HEADING, _LIST_ITEM, _TABLE_PART, _TABLE,
 _RAW, _PLAINTEXT, _IGNORE, _FOREIGN_ROOT, _BUTTON, _OPTION, _NO_REOPEN, _SELECT) = range(19)
_START_KIND = {
    **dict.fromkeys(_NO_RECONSTRUCT, _NO_REOPEN),
    **dict.fromkeys(_VOID - _NO_RECONSTRUCT, _VOID_REOPEN), **dict.fromkeys(_VOID & _NO_RECONSTRUCT, _VOID_ONLY),
    **dict.fromkeys(_CLOSES_P, _CLOSE_P), **dict.fromkeys(_HEADINGS, _HEADING),
    **dict.fromkeys(("li", "dd", "dt"), _LIST_ITEM), **dict.fromkeys(_TABLE_PARTS - {"col"}, _TABLE_PART),
    **dict.fromkeys(_RAW_TEXT | {"script"}, _RAW), **dict.fromkeys(_IGNORED_START, _IGNORE),
    **dict.fromkeys(_FORMATTING, _FORMAT),
    "hr": _HR, "col": _COL, "table": _TABLE, "plaintext": _PLAINTEXT, "svg": _FOREIGN_ROOT, "math": _FOREIGN_ROOT,
    "button": _BUTTON, "option": _OPTION, "optgroup": _OPTION, "select": _SELECT,
}
(_ANY_OTHER, _END_FORMAT, _END_P, _END_LIST_ITEM, _END_HEADING, _END_TABLE, _END_BLOCK, _END_BR, _END_OPTION,
 _END_IGNORE) = range(10)
_END_KIND = {
    **dict.fromkeys(_BLOCK_END | {"dd", "dt"}, _END_BLOCK), **dict.fromkeys(_HEADINGS, _END_HEADING),
    **dict.fromkeys(_TABLE_PARTS | {"table"}, _END_TABLE), **dict.fromkeys(_IGNORED_START, _END_IGNORE),
    **dict.fromkeys(_FORMATTING, _END_FORMAT),
    "p": _END_P, "li": _END_LIST_ITEM, "br": _END_BR, "option": _END_OPTION, "optgroup": _END_OPTION,
}


class _TreeModel:
    """An approximation of the HTML tree builder, run over the tokens before the page is parsed.

    It keeps the stack of open elements with the rules that close elements implicitly (<p> by blocks, <li>
    by <li>, table cells and rows by their siblings, an end tag by the innermost open element of its name
    in scope, or not at all across a special element), foreign content (<svg>, <math>: there `/>` closes
    any element and <style> or <title> hold markup) and the list of active formatting elements, which the
    parser reopens as new elements wherever text goes on after they were closed implicitly (each <p> in
    `<p><b><i><u>text<p>text<p>text...` gets its own <b><i><u>). It counts the elements the parser would
    make, their depths summed over the tokens, and the work of the "adoption agency" that the parser
    runs for a misnested end tag of a formatting element, and stops at the first limit passed. A token
    costs O(1) amortized (a bisect aside): positions are kept per element name, and scopes are looked up
    in the lists of boundary positions.

    It is an approximation: not all of the parser's insertion modes are modelled, so its stack can differ
    from the parser's. What guards the parser itself (MAX_REOPENABLE, MAX_ADOPTION_WORK) is therefore
    counted from the formatting elements still active, whatever the stack; and the parsed tree is checked
    again before extraction (parsed_html_problem).
    """

    def __init__(self, max_depth: int, max_work: int, max_elements: int, max_adoption: int):
        self.max_depth, self.max_work, self.max_elements, self.max_adoption = (
            max_depth, max_work, max_elements, max_adoption)
        self.stack: list[list] = []
        self.positions: dict[str, list[int]] = {}  # element name ("svg x", "math x" in those) -> indices
        self.special: list[int] = []
        self.special_not_adp: list[int] = []  # special elements other than address, div and p
        self.scope: list[int] = []  # elements that bound "in scope"
        self.groups = [_Group()]
        self.live_entries = 0
        self.work = self.elements = self.adoption = self.reopenable = 0
        self.other = 0  # text runs and comments: about the parsed page's other nodes

    # -- the stack -------------------------------------------------------------------------------------

    def push(self, name: str, ns: str = "", point: int = 0) -> list:
        stack = self.stack
        index = len(stack)
        if index >= self.max_depth:
            raise _Refused(f"HTML nested deeper than {self.max_depth} elements (the extractor's time grows with "
                           f"the square of the depth)")
        element = [name, ns, index, True, point, index if not ns else stack[-1][_HTML_BELOW] if stack else -1]
        stack.append(element)
        key = f"{ns} {name}" if ns else name
        positions = self.positions.get(key)
        if positions is None:
            self.positions[key] = [index]
        else:
            positions.append(index)
        if ns:
            if point:
                self.special.append(index)
                self.special_not_adp.append(index)
                self.scope.append(index)
        elif name in _SPECIAL:
            self.special.append(index)
            if name != "div" and name != "p" and name != "address":
                self.special_not_adp.append(index)
            if name in _SCOPE:
                self.scope.append(index)
                if name in _MARKER:  # a marker on the list of active formatting elements
                    self.groups.append(_Group())
        self.elements += 1
        if self.elements > self.max_elements:
            self.count_element(0)
        return element

    def pop_to(self, index: int) -> None:
        """Pop the element at `index` and everything above it."""
        stack, positions, special = self.stack, self.positions, self.special
        while len(stack) > index:
            element = stack.pop()
            top = element[_INDEX]
            positions[f"{element[_NS]} {element[_NAME]}" if element[_NS] else element[_NAME]].pop()
            if special and special[-1] == top:
                special.pop()
                if self.special_not_adp and self.special_not_adp[-1] == top:
                    self.special_not_adp.pop()
                if self.scope and self.scope[-1] == top:
                    self.scope.pop()
            element[_OPEN] = False

    def clear_to_marker(self) -> None:
        """Forget the formatting elements after the last marker, and it: what closing a table cell, a
        caption, an <applet>, <marquee>, <object> or <template> does (popping one otherwise does not)."""
        if len(self.groups) > 1:
            self.live_entries -= self.groups.pop().live

    def close_cell(self, table: int) -> None:
        """Close the cell or caption open in the table at `table`, if any (not popping it yet)."""
        if max(self.last("td"), self.last("th"), self.last("caption")) > table:
            self.clear_to_marker()

    def count_element(self, n: int = 1) -> None:
        self.elements += n
        if self.elements > self.max_elements:
            raise _Refused(f"HTML that the parser would build into more than {self.max_elements} elements")

    def last(self, name: str) -> int:
        indices = self.positions.get(name)
        return indices[-1] if indices else -1

    def in_scope(self, name: str, *extra: str) -> int:
        """The index of the innermost open `name` if it is in scope (no boundary above it), else -1."""
        index = self.last(name)
        if index < 0:
            return -1
        bound = self.scope[-1] if self.scope else -1
        for other in extra:
            bound = max(bound, self.last(other))
        return index if index >= bound else -1

    def close_p(self) -> None:
        index = self.in_scope("p", "button")
        if index >= 0:
            self.pop_to(index)

    # -- active formatting elements ---------------------------------------------------------------------

    def remove_entry(self, group: _Group, entry: _Entry) -> None:
        entry.removed = True
        group.live -= 1
        self.live_entries -= 1
        group.by_key[entry.key].remove(entry)
        del group.by_name[entry.name][id(entry)]
        entries = group.entries
        while entries and entries[-1].removed:
            entries.pop()
        if len(entries) > 2 * group.live + 16:
            group.entries = [e for e in entries if not e.removed]

    def reconstruct(self) -> None:
        entries = self.groups[-1].entries
        start = len(entries)
        while start:
            entry = entries[start - 1]
            if not entry.removed and entry.element[_OPEN]:
                break
            start -= 1
        for entry in entries[start:]:
            if not entry.removed:  # reopened: a new element, where the text goes on
                entry.element = self.push(entry.name)
                self.work += len(self.stack)

    def formatting_start(self, name: str, attributes: str) -> None:
        group = self.groups[-1]
        if name == "a" and group.by_name.get("a"):
            entry = next(reversed(group.by_name["a"].values()))
            self.formatting_end("a")
            if not entry.removed:
                self.remove_entry(group, entry)
                entry.element[_OPEN] = False
        if group.entries:
            self.reconstruct()
        if name == "nobr" and self.in_scope("nobr") >= 0:
            self.formatting_end("nobr")
            self.reconstruct()
        group = self.groups[-1]
        key = f"{name} {attributes.strip(_WS)}"
        same = group.by_key.get(key)
        if same is None:
            same = group.by_key[key] = []
        elif len(same) >= 3:  # the parser keeps no more than three identical ones
            self.remove_entry(group, same[0])
        entry = _Entry(key, name, self.push(name))
        group.entries.append(entry)
        same.append(entry)
        by_name = group.by_name.get(name)
        if by_name is None:
            by_name = group.by_name[name] = {}
        by_name[id(entry)] = entry
        group.live += 1
        self.live_entries += 1

    def formatting_end(self, name: str) -> None:
        group = self.groups[-1]
        entries = group.by_name.get(name)
        if not entries:
            self.any_other_end(name)
            return
        # The adoption agency: it scans the stack and the list, and in up to 8 rounds moves the element past
        # a special element below it, cloning it (and up to 3 formatting elements in between). Its work is
        # counted whether or not this model sees such a special element (lexbor's time grows faster than
        # this count, with the size of the list, where there are: see MAX_ADOPTION_WORK).
        self.adoption += len(self.stack) * (1 + self.live_entries)
        if self.adoption > self.max_adoption:
            raise _Refused(f"HTML whose misnested formatting tags would take the parser too long to untangle "
                           f"(more than {self.max_adoption} steps)")
        entry = next(reversed(entries.values()))
        element = entry.element
        stack = self.stack
        if stack and stack[-1] is element:  # the usual case: closing the current element
            self.pop_to(element[_INDEX])
            self.remove_entry(group, entry)
            return
        if not element[_OPEN]:
            self.remove_entry(group, entry)
            return
        index = element[_INDEX]
        if self.scope and self.scope[-1] > index:
            return  # not in scope: ignored, and still active
        above = len(self.special) - bisect.bisect_right(self.special, index)
        if not above:
            self.pop_to(index)
            self.remove_entry(group, entry)
            return
        self.count_element(4 * min(8, above))
        if above <= 8:  # done: closed, with what is open below the last special element
            self.remove_entry(group, entry)
            element[_OPEN] = False
            self.pop_to(self.special[-1] + 1)

    def any_other_end(self, name: str) -> None:
        index = self.last(name)
        if index >= 0 and not (self.special and self.special[-1] > index):
            self.pop_to(index)

    # -- tokens -----------------------------------------------------------------------------------------

    def in_foreign(self, name: str | None) -> bool:
        """Whether start tag `name` (None: text) is read as foreign content (inside <svg> or <math>)."""
        if not self.stack:
            return False
        top = self.stack[-1]
        if not top[_NS] or top[_POINT] == 1:
            return False
        if top[_POINT] == 2 and name != "mglyph" and name != "malignmark":
            return False
        return not (name == "svg" and top[_NAME] == "annotation-xml")

    def break_out(self) -> None:
        stack = self.stack
        while stack and stack[-1][_NS] and not stack[-1][_POINT] in (1, 2):
            self.pop_to(len(stack) - 1)

    def in_table(self) -> bool:
        """Whether the parser is in a table's own insertion modes (not in a cell or caption), where
        elements other than the table's parts are moved out before the table ("foster parented")."""
        innermost, name = -1, ""
        for context in _TABLE_CONTEXT:
            index = self.last(context)
            if index > innermost:
                innermost, name = index, context
        return name in _TABLE_MODE

    def text(self, html: str, start: int, end: int) -> None:
        """Text from `start` to `end`, where formatting elements closed implicitly are reopened."""
        if self.in_foreign(None) or (not html[start:end].strip(_WS) and self.in_table()):
            return
        self.reconstruct()

    def start(self, name: str, attributes: str, self_closing: bool) -> str | None:
        """Open a start tag; returns the name of a raw-text element whose text follows, if any."""
        stack = self.stack
        self.work += len(stack)
        self.reopenable += self.groups[-1].live
        if stack and stack[-1][_NS] and self.in_foreign(name):
            if name in _BREAKOUT or (name == "font" and _FONT_BREAKOUT.search(attributes)):
                self.break_out()
            else:
                ns = stack[-1][_NS]
                if self_closing:
                    self.count_element()
                elif ns == "svg" and name in _SVG_HTML_POINTS:
                    self.push(name, ns, 1)
                elif ns == "math" and name in _MATHML_TEXT_POINTS:
                    self.push(name, ns, 2)
                elif ns == "math" and name == "annotation-xml":
                    self.push(name, ns, 1 if _HTML_ENCODING.search(attributes) else 3)
                else:
                    self.push(name, ns)
                return None
        kind = _START_KIND.get(name, _GENERIC)
        if kind == _GENERIC:
            if self.groups[-1].entries:
                self.reconstruct()
            self.push(name)
        elif kind == _FORMAT:
            self.formatting_start(name, attributes)
        elif kind == _CLOSE_P:
            self.close_p()
            self.push(name)
        elif kind == _VOID_REOPEN:
            if (name == "input" or name == "keygen") and self.last("select") >= 0:
                self.pop_to(self.last("select"))  # they close a <select>
            if self.groups[-1].entries:
                self.reconstruct()
            self.count_element()
        elif kind == _VOID_ONLY:
            self.count_element()
        elif kind == _LIST_ITEM:
            if self.special_not_adp:
                index = self.special_not_adp[-1]
                top = stack[index][_NAME]
                if top == name or (name != "li" and (top == "dd" or top == "dt")):
                    self.pop_to(index)
            self.close_p()
            self.push(name)
        elif kind == _TABLE_PART or kind == _COL:
            self.table_part(name)
        elif kind == _RAW:
            if name == "textarea" and self.last("select") >= 0:
                self.pop_to(self.last("select"))
            if name == "xmp":
                self.close_p()
                self.reconstruct()
            self.count_element()
            return name
        elif kind == _NO_REOPEN:
            self.push(name)
        elif kind == _HEADING:
            self.close_p()
            if stack and stack[-1][_NAME] in _HEADINGS:
                self.pop_to(len(stack) - 1)
            self.push(name)
        elif kind == _HR:
            self.close_p()
            self.count_element()
        elif kind == _TABLE:
            if self.in_table():  # a table in a table (not in a cell) closes the first
                index = self.in_scope("table")
                if index >= 0:
                    self.pop_to(index)
            self.close_p()
            self.push(name)
        elif kind == _PLAINTEXT:
            self.close_p()
            self.count_element()
            self.reconstruct()  # for the text that follows
            return name
        elif kind == _FOREIGN_ROOT:
            self.reconstruct()
            if self_closing:
                self.count_element()
            else:
                self.push(name, name)
        elif kind == _BUTTON:
            index = self.in_scope("button")
            if index >= 0:
                self.pop_to(index)
            self.reconstruct()
            self.push(name)
        elif kind == _SELECT:
            if self.last("select") >= 0:
                self.pop_to(self.last("select"))  # a <select> in a <select> closes it
            else:
                self.reconstruct()
                self.push(name)
        elif kind == _OPTION:
            if stack and stack[-1][_NAME] == "option":
                self.pop_to(len(stack) - 1)
            self.reconstruct()
            self.push(name)
        return None  # _IGNORE: <html>, <head>, <body>, <frameset>, <frame>

    def table_part(self, name: str) -> None:
        table = self.last("table")
        if table < 0 or self.last("template") > table:
            self.count_element()  # ignored outside a table: counted all the same
            return
        self.close_cell(table)
        if name == "td" or name == "th" or name == "tr":
            row = self.last("tr") if name != "tr" else -1
            if row > table:
                self.pop_to(row + 1)
            else:
                section = max(self.last("tbody"), self.last("thead"), self.last("tfoot"))
                if section > table:
                    self.pop_to(section + 1)
                else:
                    self.pop_to(table + 1)
                    self.push("tbody")
                if name != "tr":
                    self.push("tr")
            self.push(name)
        elif name == "col":
            if self.stack[-1][_NAME] != "colgroup":
                self.pop_to(table + 1)
                self.push("colgroup")
            self.count_element()
        else:
            self.pop_to(table + 1)
            self.push(name)

    def end(self, name: str) -> None:
        stack = self.stack
        self.work += len(stack)
        if stack and stack[-1][_NS]:
            if name == "br" or name == "p":
                self.break_out()
            else:
                index = max(self.last(f"svg {name}"), self.last(f"math {name}"))
                if index > stack[-1][_HTML_BELOW]:
                    self.pop_to(index)
                    return
        kind = _END_KIND.get(name, _ANY_OTHER)
        if kind == _ANY_OTHER:
            self.any_other_end(name)
        elif kind == _END_BLOCK:
            index = self.in_scope(name)
            if index >= 0:
                self.pop_to(index)
                if name in _MARKER:
                    self.clear_to_marker()
        elif kind == _END_FORMAT:
            self.formatting_end(name)
        elif kind == _END_P:
            index = self.in_scope("p", "button")
            if index >= 0:
                self.pop_to(index)
            else:
                self.count_element()  # an empty <p>
        elif kind == _END_LIST_ITEM:
            index = self.in_scope("li", "ol", "ul")
            if index >= 0:
                self.pop_to(index)
        elif kind == _END_TABLE:  # in table scope: no <table> or <template> above it
            index = self.last(name)
            if index >= 0 and index > self.last("template") and (name == "table" or index > self.last("table")):
                self.close_cell(index if name == "table" else self.last("table"))
                self.pop_to(index)
        elif kind == _END_HEADING:
            index = max(self.in_scope(heading) for heading in _HEADINGS)
            if index >= 0:
                self.pop_to(index)
        elif kind == _END_BR:
            self.reconstruct()
            self.count_element()
        elif kind == _END_OPTION:
            if stack and stack[-1][_NAME] == name:
                self.pop_to(len(stack) - 1)

    def check(self) -> None:
        if self.reopenable > MAX_REOPENABLE:
            raise _Refused(f"HTML with so many formatting tags left open that the parser could make more than "
                           f"{MAX_REOPENABLE} elements reopening them")
        if self.work > self.max_work:
            raise _Refused(f"HTML too deeply nested for extraction: its elements' depths add up to more than "
                           f"{self.max_work} (the extractor's time grows with that sum)")

    def run(self, html: str) -> None:
        size = len(html)
        stack, groups, max_work = self.stack, self.groups, self.max_work
        start_tag, end_tag = self.start, self.end
        at = 0  # where the text after the last token starts
        while True:
            jumped = False
            for token in _TOKEN.finditer(html, at):
                start = token.start()
                if start > at:  # text (a '<' that starts no token is text)
                    self.work += len(stack)
                    self.other += 1
                    if groups[-1].entries:
                        self.reopenable += groups[-1].live
                        self.text(html, at, start)
                at = token.end()
                closing, name, attributes, self_closing = token.groups()
                if name is None:  # a comment, doctype, bogus comment ... or CDATA in foreign content
                    self.work += len(stack)
                    self.other += 1
                    if html.startswith("<![CDATA[", start) and stack and self.in_foreign("#cdata"):
                        end = html.find("]]>", start + 9)
                        at, jumped = (size if end < 0 else end + 3), True
                elif closing:
                    end_tag(name.lower())
                else:
                    raw = start_tag(name.lower(), attributes, bool(self_closing))
                    if raw is not None:
                        self.other += 1
                        if raw == "plaintext":
                            return
                        at, jumped = _raw_text_end(html, at, raw), True
                if self.work > max_work or self.reopenable > MAX_REOPENABLE:
                    self.check()
                if jumped:
                    break
            if not jumped:
                if at < size:
                    self.work += len(stack)
                    self.other += 1
                    if groups[-1].entries:
                        self.text(html, at, size)
                self.check()
                return


def _raw_text_end(html: str, start: int, name: str) -> int:
    """Where the text of raw-text element `name` that starts at `start` ends (its end tag's '<')."""
    if name != "script":
        end = _RAW_TEXT_END[name].search(html, start)
        return end.start() if end else len(html)
    state = 0  # 0: script data, 1: inside "<!--", 2: inside "<!-- <script>"
    for mark in _SCRIPT_MARKS.finditer(html, start):
        text = mark.group()
        if text == "<!--":
            if state == 0 and not _ABRUPT_COMMENT_END.match(html, mark.end()):
                state = 1
        elif text == "-->":
            state = 0
        elif mark.group(1):  # </script
            if state == 2:
                state = 1
            else:
                return mark.start()
        elif state == 1:  # <script inside <!--
            state = 2
    return len(html)


def html_nesting(html: str, max_depth: int = MAX_HTML_DEPTH, max_work: int = MAX_NESTING_WORK,
                 max_elements: int = MAX_HTML_ELEMENTS, max_adoption: int = MAX_ADOPTION_WORK) -> str | None:
    """Why parsing the page or extracting its text would cost too much, or None: too deep, too much depth
    summed, too many elements (counting those the parser makes for unclosed formatting tags), or too much
    untangling of misnested formatting tags. A linear scan of the tokens (see _TreeModel)."""
    return _scan(html, max_depth, max_work, max_elements, max_adoption)[0]


def _scan(html: str, max_depth: int = MAX_HTML_DEPTH, max_work: int = MAX_NESTING_WORK,
          max_elements: int = MAX_HTML_ELEMENTS, max_adoption: int = MAX_ADOPTION_WORK) -> tuple[str | None, int]:
    """html_nesting's answer, and how many nodes other than elements the page has, about."""
    tags = html.count("<")
    if tags < 256:  # too few for the parser to make much of (the parsed tree is checked all the same)
        return None, 2 * tags + 1
    model = _TreeModel(max_depth, max_work, max_elements, max_adoption)
    try:
        model.run(html)
    except _Refused as refused:
        return str(refused), model.other
    return None, model.other


# An element with at least n element ancestors, for n in 8, 16, 32, 64.
_DEEP_SELECTORS = {depth: " > ".join(["*"] * (depth + 1)) for depth in (8, 16, 32, 64)}


class _WalkStop(Exception):
    pass


def parsed_html_problem(tree, other_nodes: int, max_depth: int = MAX_HTML_DEPTH, max_work: int = MAX_NESTING_WORK,
                        max_elements: int = MAX_HTML_ELEMENTS) -> str | None:
    """Why the parsed page would cost the extractor too much, or None: the backstop to html_nesting,
    measured on the tree the extractor would get, so that no markup that the scan reads differently from
    the parser can stall a reader. `other_nodes`: about how many nodes are not elements (text, comments).

    The elements are counted in C (a selector). A page is let through if, for one n of 8, 16, 32, 64, no
    element has n element ancestors (which a selector finds, in C, by looking up to n levels up from each
    element) and its nodes times n is within `max_work`: then so is the sum of their depths. Any other is
    walked node by node (about 2.7 us a node) and refused at the first limit passed, or past
    _MAX_WALKED_NODES nodes.
    """
    from resiliparse.parse.html import traverse_dom

    document = tree.document
    elements = len(document.query_selector_all("*"))
    if elements > max_elements:
        return f"HTML parsed into {elements} elements, more than {max_elements}"
    nodes = elements + other_nodes
    for depth, selector in _DEEP_SELECTORS.items():
        if nodes * depth > max_work:
            break
        if document.query_selector(selector) is None:
            return None
    totals = [0, 0]  # nodes, summed depth
    reason: list[str] = []

    def visit(context) -> None:
        depth = context.depth
        totals[0] += 1
        totals[1] += depth
        if depth > max_depth + 3:  # document, <html> and <body> above the page's own elements
            reason.append(f"HTML nested deeper than {max_depth} elements once parsed (the extractor's time grows "
                          f"with the square of the depth)")
        elif totals[1] > max_work:
            reason.append(f"HTML too deeply nested for extraction once parsed: its nodes' depths add up to more "
                          f"than {max_work}")
        elif totals[0] > _MAX_WALKED_NODES:
            reason.append(f"HTML too large to measure its nesting: more than {_MAX_WALKED_NODES} nodes")
        else:
            return
        raise _WalkStop

    try:
        traverse_dom(document, visit)
    except _WalkStop:
        return reason[0]
    return None


class ExtractionRefused(ValueError):
    """A page that the extractor is not given, because of what it would cost; the message says why."""


def html_to_text(html_bytes: bytes, charset: str | None) -> str:
    """The page's main text: resiliparse's boilerplate-removing extractor, after charset detection.

    Raises ExtractionRefused for a page that would cost too much to parse or to extract (see the limits
    above): checked on the decoded text before parsing (html_nesting) and on the parsed tree after
    (parsed_html_problem), so that every encoding is treated alike.
    """
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree

    encoding = charset or detect_encoding(html_bytes)
    html = bytes_to_str(html_bytes, encoding)
    problem, other_nodes = _scan(html)
    if problem:
        raise ExtractionRefused(problem)
    tree = HTMLTree.parse(html)
    problem = parsed_html_problem(tree, other_nodes)
    if problem:
        raise ExtractionRefused(problem)
    return extract_plain_text(tree, main_content=True)
