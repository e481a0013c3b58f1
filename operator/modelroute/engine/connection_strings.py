""".NET connection strings as Microsoft.Extensions.Configuration and System.Data read them: which
environment variables set one, and how its text is parsed and written.

An environment variable `ConnectionStrings__<name>` is the configuration key `ConnectionStrings:<name>`
(the environment provider reads `__` as `:` and compares keys case-insensitively; the host builder also
loads the `DOTNET_` and `ASPNETCORE_` prefixed variables, and Azure App Service's `CUSTOMCONNSTR_<name>`
lands on the same key). `GetConnectionString(name)` returns it, and clients parse it with
`System.Data.Common.DbConnectionStringBuilder`: `key=value` pairs separated by `;`, keys case-insensitive
with `==` for a literal `=`, values unquoted or in `"..."` / `'...'` (the quote doubled inside), the last
of a repeated key winning, an empty value removing the key. No Python library reads this dialect; the
parser is checked against the real class (tests/unit/test_connection_strings_dotnet.py). Which
connection strings are OpenAI ones is engine.aspire's business.
"""

from __future__ import annotations

from dataclasses import dataclass

_SECTION = "connectionstrings"
_HOST_PREFIXES = ("dotnet_", "aspnetcore_")
_APP_SERVICE_PREFIX = "customconnstr_"
#: What .NET's char.IsWhiteSpace calls white space (Python's str.isspace also counts U+001C..U+001F).
_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: Longest connection string parsed: beyond it the value is scanned for URLs only.
MAX_LENGTH = 64 * 1024


class ConnectionStringError(ValueError):
    """A value DbConnectionStringBuilder refuses (and so does the client that reads it)."""


def connection_name(variable: str) -> str | None:
    """The `<name>` of the `ConnectionStrings:<name>` key that an environment variable sets, or None."""
    lowered = variable.lower()
    if lowered.startswith(_APP_SERVICE_PREFIX):
        name = variable[len(_APP_SERVICE_PREFIX) :]
        return name or None
    for prefix in _HOST_PREFIXES:
        if lowered.startswith(prefix):
            variable, lowered = variable[len(prefix) :], lowered[len(prefix) :]
            break
    for delimiter in ("__", ":"):
        head = _SECTION + delimiter
        if lowered.startswith(head):
            name = variable[len(head) :]
            # a deeper key (ConnectionStrings:a:b) is a section, which GetConnectionString does not return
            return name if name and "__" not in name and ":" not in name else None
    return None


@dataclass(frozen=True, slots=True)
class ConnectionString:
    """A parsed connection string: its pairs in order, as written (keys keep their spelling)."""

    pairs: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        """The value of a key, compared case-insensitively; the last one written wins."""
        wanted = key.lower()
        found = None
        for name, value in self.pairs:
            if name.lower() == wanted:
                found = value
        return found

    @property
    def keys(self) -> frozenset[str]:
        """Its keys, lower-cased."""
        return frozenset(name.lower() for name, _ in self.pairs)

    def with_value(self, key: str, value: str) -> ConnectionString:
        """The same connection string with `key` set to `value`: in place (keeping its spelling and
        dropping repeats), or first when it was not there."""
        wanted = key.lower()
        pairs: list[tuple[str, str]] = []
        replaced = False
        for name, old in self.pairs:
            if name.lower() != wanted:
                pairs.append((name, old))
            elif not replaced:
                pairs.append((name, value))
                replaced = True
        if not replaced:
            pairs.insert(0, (key, value))
        return ConnectionString(tuple(pairs))

    def __str__(self) -> str:
        return ";".join(f"{name.replace('=', '==')}={_quoted(value)}" for name, value in self.pairs)


def _quoted(value: str) -> str:
    """A value as DbConnectionStringBuilder writes it: bare when it can be, else quoted (an empty one
    too, which DbConnectionStringBuilder writes bare, and so reads back as removed)."""
    if value and not any(c in "\"'=;" or c in _SPACE or _is_control(c) for c in value):
        return value
    if '"' in value and "'" not in value:
        return f"'{value}'"
    return '"' + value.replace('"', '""') + '"'


def _is_control(c: str) -> bool:
    return ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0


def parse(text: str) -> ConnectionString:
    """Parse as DbConnectionStringBuilder does (non-ODBC rules). Raises ConnectionStringError."""
    if len(text) > MAX_LENGTH:
        raise ConnectionStringError(f"longer than {MAX_LENGTH} characters")
    pairs: list[tuple[str, str]] = []
    position, length = 0, len(text)
    while position < length:
        position, key, value = _pair(text, position)
        if key is None:
            break
        # a key with no value removes what an earlier pair set
        pairs = [(k, v) for k, v in pairs if k.lower() != key.lower()]
        if value is not None:
            if any(_is_control(c) for c in key):  # the builder refuses even a tab inside a key it sets
                raise ConnectionStringError(f"a control character in the key ending at {position}")
            pairs.append((key, value))
    return ConnectionString(tuple(pairs))


def _pair(text: str, position: int) -> tuple[int, str | None, str | None]:
    """(next position, key, value) of the pair at `position`; key None at the end of the text."""
    length = len(text)
    while position < length and (text[position] == ";" or text[position] in _SPACE):
        position += 1
    if position >= length or text[position] == "\0":
        if text[position:].strip("\0" + _SPACE):
            raise ConnectionStringError(f"text after a NUL character at {position}")
        return length, None, None
    start = position
    key_chars: list[str] = []
    while True:
        if position >= length:
            raise ConnectionStringError(f"the key at {start} has no '='")
        c = text[position]
        if c == "=":
            if position + 1 < length and text[position + 1] == "=":
                key_chars.append("=")  # '==' is a literal '=' in a key
                position += 2
                continue
            position += 1
            break
        if _is_control(c) and c not in _SPACE:
            raise ConnectionStringError(f"a control character in the key at {start}")
        key_chars.append(c)
        position += 1
    key = "".join(key_chars).rstrip(_SPACE)
    if not key:
        raise ConnectionStringError(f"an empty key at {start}")
    while position < length and text[position] in _SPACE:
        position += 1
    if position >= length or text[position] == ";":
        return position + 1, key, None
    quote = text[position]
    if quote in "\"'":
        return _quoted_value(text, position, key)
    value_start = position
    while position < length and text[position] != ";":
        if _is_control(text[position]) and text[position] not in _SPACE:
            raise ConnectionStringError(f"a control character in the value of {key!r}")
        position += 1
    value = text[value_start:position].strip(_SPACE)
    if value[-1:] in ("'", '"'):
        raise ConnectionStringError(f"the value of {key!r} ends with a quote it does not start with")
    return position + 1, key, value


def _quoted_value(text: str, position: int, key: str) -> tuple[int, str, str]:
    quote, length = text[position], len(text)
    position += 1
    chars: list[str] = []
    while True:
        if position >= length or text[position] == "\0":
            raise ConnectionStringError(f"the quoted value of {key!r} is not closed")
        c = text[position]
        if c == quote:
            if position + 1 < length and text[position + 1] == quote:
                chars.append(quote)
                position += 2
                continue
            position += 1
            break
        chars.append(c)
        position += 1
    while position < length and text[position] in _SPACE:
        position += 1
    if position < length and text[position] not in ";\0":
        raise ConnectionStringError(f"text after the quoted value of {key!r}")
    return position + 1, key, "".join(chars)
