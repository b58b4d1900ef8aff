"""Static bearer tokens (kube-apiserver's --token-auth-file): a CSV file of `token,user,uid[,"group1,group2"]`
lines, read once at start. It is read as Go's encoding/csv reads it (any number of fields, quotes only
around whole fields, blank lines skipped), so a bad file fails with upstream's words."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from timoneiro.apiserver.authn import UserInfo, authenticated, bearer_token

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request

log = logging.getLogger("timoneiro.apiserver.authn")
BARE_QUOTE = 'bare " in non-quoted-field'
QUOTE = 'extraneous or missing " in quoted-field'


class TokenFileError(ValueError):
    """A token file that cannot be used: the server does not start."""


def _parse_error(start: int, line: int, column: int, why: str) -> TokenFileError:
    where = f"parse error on line {line}, column {column}: {why}"
    return TokenFileError(where if start == line else f"record on line {start}; {where}")


def _lines(text: str) -> list[str]:
    """Lines as Go's csv reader sees them: each keeps its "\\n" ("\\r\\n" read as "\\n"); the last may lack
    one."""
    pieces = text.split("\n")
    lines = [p.removesuffix("\r") + "\n" for p in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1].removesuffix("\r"))
    return lines


def read_csv(text: str) -> list[list[str]]:
    """Records as Go's encoding/csv reads them with its defaults and any number of fields per record."""
    lines = _lines(text)
    records: list[list[str]] = []
    n = 0
    while n < len(lines):
        line, n = lines[n], n + 1
        if line == "\n":
            continue
        start = n
        fields: list[str] = []
        column = 1
        while True:
            if not line.startswith('"'):
                comma = line.find(",")
                field = line[:comma] if comma >= 0 else line.removesuffix("\n")
                if '"' in field:
                    raise _parse_error(start, n, column + field.index('"'), BARE_QUOTE)
                fields.append(field)
                if comma < 0:
                    break
                line, column = line[comma + 1:], column + comma + 1
                continue
            line, column, value = line[1:], column + 1, ""
            ended = False
            while True:
                quote = line.find('"')
                if quote >= 0:
                    value += line[:quote]
                    line, column = line[quote + 1:], column + quote + 1
                    if line.startswith('"'):
                        value, line, column = value + '"', line[1:], column + 1
                    elif line.startswith(","):
                        line, column = line[1:], column + 1
                        break
                    elif line in ("", "\n"):
                        ended = True
                        break
                    else:
                        raise _parse_error(start, n, column - 1, QUOTE)
                elif line and n < len(lines):  # the field goes on on the next line
                    value += line
                    line, n, column = lines[n], n + 1, 1
                else:
                    raise _parse_error(start, n, column + len(line), QUOTE)
            fields.append(value)
            if ended:
                break
        records.append(fields)
    return records


def load_token_file(path: str) -> dict[str, UserInfo]:
    """token -> user, as upstream's tokenfile.NewCSV reads the file (a later duplicate wins)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as e:
        raise TokenFileError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    users: dict[str, UserInfo] = {}
    for number, record in enumerate(read_csv(text), 1):
        if len(record) < 3:
            raise TokenFileError(f"token file '{path}' must have at least 3 columns (token, user name, user uid), "
                                 f"found {len(record)}")
        token = record[0]
        if not token:
            log.warning("empty token has been found in token file '%s', record number '%d'", path, number)
            continue
        if token in users:
            log.warning("duplicate token has been found in token file '%s', record number '%d'", path, number)
        groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
        users[token] = authenticated(record[1], groups, record[2])
    return users


class TokenFileAuthenticator:
    def __init__(self, path: str) -> None:
        self.users = load_token_file(path)

    def authenticate(self, req: Request) -> UserInfo | None:
        token = bearer_token(req)
        return self.users.get(token) if token else None
