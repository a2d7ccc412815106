#!/usr/bin/env python3
"""Check the relative links of the documentation: README.md and docs/**/*.md.

Every markdown link `[text](target)`, image `![alt](target)` and reference definition
`[id]: target` outside fenced code blocks and inline code is checked, except absolute URLs
(`scheme://…`, `mailto:`, …). A relative target is resolved against the directory of the
file that links to it (a target starting with `/` against the repository root) and must
exist inside the repository. An anchor, `#name` alone (this file) or after a path to a
markdown file, must name a heading of that file under GitHub's rules: the heading's text
lowercased, punctuation other than `-` and `_` removed, spaces turned into `-`, and the
second, third, … heading with the same slug suffixed `-1`, `-2`, … (explicit
`<a name="…">`/`id="…"` anchors count too). Anchors into other kinds of files are not
checked.

Usage, from anywhere:

    python3 scripts/check_links.py            # README.md and docs/**/*.md
    python3 scripts/check_links.py FILE.md…   # just these files

Each broken link is printed as `file:line: target (why)` and the exit status is 1; when all
resolve, one line with the count is printed and the exit status is 0. Standard library
only.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent

# A fence opens with at least three backticks or tildes, indented by up to three spaces.
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Link text may hold one level of brackets (e.g. `![d[Mg/H]/d pixel](…)`).
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text] or ![alt]
    r"\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"  # (target, <target> or bare
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"  # optional title)
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*(<[^>]*>|\S+)")
ABSOLUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*?(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.I)
HTML_ID = re.compile(r"<[A-Za-z][^>]*?\sid\s*=\s*[\"']([^\"']+)[\"']")


def strip_inline_code(line: str) -> str:
    """The line with every inline code span blanked (same length, so columns still match)."""
    out = []
    i = 0
    while i < len(line):
        if line[i] == "`":
            j = i
            while j < len(line) and line[j] == "`":
                j += 1
            ticks = line[i:j]
            end = line.find(ticks, j)
            # A closing run must be exactly as long as the opening one.
            while end != -1 and end + len(ticks) < len(line) and line[end + len(ticks)] == "`":
                end = line.find(ticks, end + len(ticks) + 1)
            if end == -1:
                out.append(ticks)
                i = j
                continue
            out.append(" " * (end + len(ticks) - i))
            i = end + len(ticks)
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def prose_lines(text: str):
    """(line number, line) for each line outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        else:
            closing = line.strip()
            if match and set(closing) == {fence[0]} and len(closing) >= len(fence):
                fence = None


def heading_text(raw: str) -> str:
    """What GitHub renders of a heading's markdown: links and images by their text, no code
    ticks, emphasis markers or HTML tags."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", raw)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)
    return text.strip()


def slug(text: str) -> str:
    """GitHub's anchor for a heading's rendered text (before duplicate numbering)."""
    kept = []
    for char in text.lower():
        category = unicodedata.category(char)
        if char in " -" or category[0] in "LMN" or category == "Pc":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors_of(path: Path, cache: dict) -> set:
    """Every anchor GitHub makes for a markdown file."""
    if path in cache:
        return cache[path]
    text = path.read_text(encoding="utf-8")
    anchors = set()
    seen: dict[str, int] = {}

    def add(heading: str) -> None:
        base = slug(heading_text(heading))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")

    previous = None
    for _, line in prose_lines(text):
        match = ATX_HEADING.match(line)
        if match:
            add(match.group(2) or "")
            previous = None
            continue
        if previous and SETEXT_UNDERLINE.match(line) and not previous.startswith((" " * 4, "|")):
            add(previous)
            previous = None
            continue
        for pattern in (HTML_ANCHOR, HTML_ID):
            anchors.update(m.group(1) for m in pattern.finditer(line))
        previous = line if line.strip() else None
    cache[path] = anchors
    return anchors


def links_of(text: str):
    """(line number, target) of every link, image and reference definition outside code."""
    for number, line in prose_lines(text):
        prose = strip_inline_code(line)
        definition = REFERENCE_DEF.match(prose)
        if definition:
            yield number, definition.group(2)
            continue
        for match in INLINE_LINK.finditer(prose):
            yield number, match.group(1)


def check_target(source: Path, target: str, cache: dict):
    """Why a link is broken, or None when it resolves."""
    target = target.strip()
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1].strip()
    if not target:
        return "empty target"
    if ABSOLUTE.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if path_part:
        base = ROOT if path_part.startswith("/") else source.parent
        resolved = (base / path_part.lstrip("/")).resolve()
        try:
            resolved.relative_to(ROOT)
        except ValueError:
            return "outside the repository"
        if not resolved.exists():
            return "no such file"
    else:
        resolved = source
    if anchor and resolved.is_file() and resolved.suffix.lower() in (".md", ".markdown"):
        if unquote(anchor) not in anchors_of(resolved, cache):
            return f"no heading with anchor #{anchor} in {resolved.relative_to(ROOT)}"
    return None


def main(argv: list) -> int:
    if argv:
        files = [Path(arg).resolve() for arg in argv]
    else:
        files = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    cache: dict = {}
    broken = 0
    checked = 0
    for path in files:
        if not path.is_file():
            print(f"{path}: no such file")
            broken += 1
            continue
        try:
            shown = path.relative_to(ROOT)
        except ValueError:
            shown = path
        for number, target in links_of(path.read_text(encoding="utf-8")):
            checked += 1
            why = check_target(path, target, cache)
            if why:
                broken += 1
                print(f"{shown}:{number}: {target} ({why})")
    if broken:
        print(f"check_links: {broken} broken of {checked} links in {len(files)} files")
        return 1
    print(f"check_links: {checked} links in {len(files)} files, all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
