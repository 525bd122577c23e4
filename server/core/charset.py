"""● replacement (F5): characters outside the system's character set become the replacement."""

from __future__ import annotations

from server.core.policy import Policy


def representable(char: str, policy: Policy) -> bool:
    try:
        char.encode(policy.name_codec)
    except UnicodeEncodeError:
        return False
    return True


def replace_unrepresentable(text: str, policy: Policy) -> str:
    return "".join(c if representable(c, policy) else policy.replacement_char for c in text)
