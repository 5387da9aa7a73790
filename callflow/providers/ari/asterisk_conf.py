"""Asterisk's own configuration files, read by ``callflow ari doctor`` on Asterisk's host.

ARI cannot tell whether a music-on-hold class has anything to play (a class
without files holds callers in silence, with no error event) nor whether a
dialplan context exists: only the files can. This reads them as Asterisk's
config loader does, as far as the doctor needs: ``[section]`` headers with
templates (``[name](!)``, ``[name](template)``), ``key = value`` and
``key => value``, ``;`` comments and ``;-- … --;`` blocks, and
``#include``/``#tryinclude`` (globs too), relative to the configuration
directory. ``#exec`` is not run. What the files say is what Asterisk loads at
its next reload; a change not yet reloaded is not seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

Options = list[tuple[str, str]]
"""A section's ``key = value`` lines in order, keys lower-cased; a key may repeat."""

DEFAULT_DATA_DIR = Path("/var/lib/asterisk")
"""``astdatadir`` when asterisk.conf does not set it; music-on-hold directories are under it."""
MAX_INCLUDE_DEPTH = 10

_HEADER = re.compile(r"\[([^\]]+)\]\s*(?:\(([^)]*)\))?")
_INCLUDE = re.compile(r"#(include|tryinclude)\s+[\"<]?([^\">]+)[\">]?")
_UNESCAPED_SEMICOLON = re.compile(r"(?<!\\);")


@dataclass
class AsteriskConf:
    """One configuration file (with what it includes): sections by lower-cased name."""

    path: Path
    sections: dict[str, Options] = field(default_factory=dict)

    def section(self, name: str) -> Options | None:
        return self.sections.get(name.lower())


def read_conf(etc: Path, name: str) -> AsteriskConf | None:
    """``etc/name`` as Asterisk would load it; None when it is missing or unreadable."""
    conf = AsteriskConf(etc / name)
    try:
        lines = conf.path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    templates: dict[str, Options] = {}
    _parse(conf, templates, lines, etc, depth=0, current=None)
    return conf


def data_dir(etc: Path) -> Path:
    """Asterisk's ``astdatadir`` (asterisk.conf ``[directories]``), where relative
    music-on-hold directories start."""
    conf = read_conf(etc, "asterisk.conf")
    directories = conf.section("directories") if conf else None
    for key, value in reversed(directories or []):
        if key == "astdatadir" and value:
            return Path(value)
    return DEFAULT_DATA_DIR


def last(options: Options, key: str) -> str:
    """The value a later line of *key* leaves (Asterisk's options override), or ''."""
    values = [value for name, value in options if name == key]
    return values[-1] if values else ""


def _parse(
    conf: AsteriskConf,
    templates: dict[str, Options],
    lines: list[str],
    etc: Path,
    *,
    depth: int,
    current: Options | None,
) -> Options | None:
    """Add *lines* to *conf*; the section open at the end (an include continues it)."""
    for line in _uncommented(lines):
        if not line:
            continue
        include = _INCLUDE.match(line)
        if include:
            if depth < MAX_INCLUDE_DEPTH:
                for path in _included(etc, include.group(2).strip()):
                    try:
                        text = path.read_text(encoding="utf-8", errors="replace")
                    except OSError:
                        continue
                    current = _parse(
                        conf, templates, text.splitlines(), etc, depth=depth + 1, current=current
                    )
            continue
        if line.startswith("#"):
            continue  # #exec: a program's output, not run here
        header = _HEADER.match(line)
        if header:
            current = _open(conf, templates, header.group(1).strip(), header.group(2) or "")
            continue
        key, equals, value = line.partition("=")
        if equals and current is not None:
            current.append((key.strip().lower(), value.removeprefix(">").strip()))
    return current


def _open(conf: AsteriskConf, templates: dict[str, Options], name: str, options: str) -> Options:
    """A section's option list: a template (``!``) is kept apart, a section named
    again (or with ``+``) continues, the options of those it inherits from come first."""
    flags = [flag.strip() for flag in options.split(",") if flag.strip()]
    parents = [flag.lower() for flag in flags if flag not in ("!", "+")]
    inherited = [
        option
        for parent in parents
        for option in templates.get(parent, conf.sections.get(parent, []))
    ]
    if "!" in flags:
        section = templates.setdefault(name.lower(), [])
    else:
        section = conf.sections.setdefault(name.lower(), [])
    section.extend(inherited)
    return section


def _included(etc: Path, target: str) -> list[Path]:
    pattern = target if target.startswith("/") else str(etc / target)
    if any(char in pattern for char in "*?["):
        root = Path(pattern).anchor or "/"
        return sorted(Path(root).glob(str(Path(pattern).relative_to(root))))
    return [Path(pattern)]


def _uncommented(lines: list[str]) -> Iterator[str]:
    """Each line without its comment: ``;`` to the end of the line (``\\;`` is a
    semicolon), ``;--`` to ``--;`` even across lines."""
    in_block = False
    for raw in lines:
        rest, kept = raw, ""
        while rest:
            if in_block:
                end = rest.find("--;")
                rest, in_block = ("", True) if end < 0 else (rest[end + 3 :], False)
                continue
            semicolon = _UNESCAPED_SEMICOLON.search(rest)
            if semicolon is None:
                kept += rest
                break
            kept += rest[: semicolon.start()]
            if rest.startswith(";--", semicolon.start()):
                in_block, rest = True, rest[semicolon.start() + 3 :]
            else:
                break
        yield kept.replace("\\;", ";").strip()
