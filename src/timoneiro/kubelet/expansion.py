"""`$(VAR)` references in a container's env values, command and args, expanded as upstream's kubelet does
(its forked expansion package): `$(NAME)` becomes NAME's value when NAME is defined and stays as written
otherwise, `$$` is a literal `$`, an unclosed `$(` and a `$` before anything else stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def keeping_unknown(variables: Mapping[str, str]) -> Callable[[str], str]:
    """The lookup of env values, command and args: a name not defined stays as written."""
    return lambda name: variables.get(name, f"$({name})")


def expand(text: str, lookup: Callable[[str], str]) -> str:
    """One string with its references replaced by lookup(name), scanning left to right once (a value is
    never expanded again)."""
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            if following == "$":  # an escaped operator
                out.append("$")
                cursor += 1
            elif following == "(":
                close = text.find(")", cursor + 2)
                if close == -1:  # an incomplete reference: kept, and scanning goes on after the "("
                    out.append("$(")
                    cursor += 1
                else:
                    out.append(lookup(text[cursor + 2:close]))
                    cursor = close
            else:  # a "$" that begins no reference: kept with the character after it
                out.append("$" + following)
                cursor += 1
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def command_and_args(command: list[str], args: list[str], envs: list[tuple[str, str]]
                     ) -> tuple[list[str], list[str]]:
    """A container's command and args expanded against its final environment (a name set twice counts
    as its last value)."""
    lookup = keeping_unknown(dict(envs))
    return [expand(c, lookup) for c in command], [expand(a, lookup) for a in args]


def sub_path(expression: str, envs: list[tuple[str, str]]) -> str:
    """A volumeMount's subPathExpr against the container's environment: every name it refers to must
    have a value (upstream's error otherwise)."""
    variables, missing = dict(envs), set()

    def lookup(name: str) -> str:
        if not variables.get(name):
            missing.add(name)
        return variables.get(name, "")
    expanded = expand(expression, lookup)
    if missing:
        raise ValueError(f"missing value for {', '.join(sorted(missing))}")
    return expanded
