"""● replacement (F5): characters outside the system's character set become the replacement."""

from __future__ import annotations

from server.core.policy import Policy

# Windows (cp932) and some other encoders give these code points for JIS X 0208 characters that
# the JIS mapping (Python's shift_jis) spells differently; e.g. an IME-typed address "１－２" uses
# U+FF0D for JIS X 0208 1-29 (minus sign). They are in the system's set: held, not turned into ●.
JIS_X_0208_VARIANTS: dict[str, str] = {
    "\uff5e": "\u301c",  # ～ FULLWIDTH TILDE -> 〜 WAVE DASH
    "\u2225": "\u2016",  # ∥ PARALLEL TO -> ‖ DOUBLE VERTICAL LINE
    "\uff0d": "\u2212",  # － FULLWIDTH HYPHEN-MINUS -> − MINUS SIGN
    "\uffe0": "\u00a2",  # ￠ -> ¢
    "\uffe1": "\u00a3",  # ￡ -> £
    "\uffe2": "\u00ac",  # ￢ -> ¬
    "\u2014": "\u2015",  # — EM DASH -> ― HORIZONTAL BAR
}


def representable(char: str, policy: Policy) -> bool:
    try:
        char.encode(policy.name_codec)
    except UnicodeEncodeError:
        return False
    return True


def hold(char: str, policy: Policy) -> str:
    """The character as the system holds it: itself, its JIS X 0208 spelling, or the replacement."""
    if representable(char, policy):
        return char
    variant = JIS_X_0208_VARIANTS.get(char)
    if variant is not None and representable(variant, policy):
        return variant
    return policy.replacement_char


def replace_unrepresentable(text: str, policy: Policy) -> str:
    try:
        text.encode(policy.name_codec)  # the usual case: every character held as it is
    except UnicodeEncodeError:
        return "".join(hold(c, policy) for c in text)
    return text
