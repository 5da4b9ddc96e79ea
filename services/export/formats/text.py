"""Writing names that come from other tenants into line-, XML- and YAML-based files safely."""

from __future__ import annotations

import re

# Everything str.splitlines() breaks on: a name must stay on its line in classes.txt.
_LINE_BREAKS = str.maketrans(dict.fromkeys("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))
# Characters XML 1.0 does not allow at all, escaped or not.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def one_line(name: str) -> str:
    """A name for a one-name-per-line file: line breaks become spaces."""
    return name.translate(_LINE_BREAKS)


def xml_text(name: str) -> str:
    """A name ElementTree can write as valid XML (it escapes & < > itself)."""
    return _NOT_XML.sub("\ufffd", name)


def _yaml_plain(code: int) -> bool:
    """Written as is inside a YAML double-quoted scalar (printable, not a line break)."""
    if 0x20 <= code <= 0x7E:
        return code not in (0x22, 0x5C)  # " and backslash
    if 0xA0 <= code <= 0xD7FF:
        return code not in (0x2028, 0x2029)
    if 0xE000 <= code <= 0xFFFD:
        return code != 0xFEFF
    return code >= 0x10000


def yaml_quoted(name: str) -> str:
    """A YAML double-quoted scalar (valid YAML 1.1 and 1.2) holding exactly `name`."""
    out = ['"']
    for char in name:
        code = ord(char)
        if _yaml_plain(code):
            out.append(char)
        elif char in '"\\':
            out.append("\\" + char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02X}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    out.append('"')
    return "".join(out)


def fixed6(value: float) -> str:
    """A normalised coordinate with 6 decimals, never "-0.000000"."""
    text = f"{value:.6f}"
    return "0.000000" if text == "-0.000000" else text
