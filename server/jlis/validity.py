"""The validity rule of the user-authentication certificate (利用者証明用電子証明書).

The certificate is valid from the day it is issued through the holder's **5th birthday after
issuance**, inclusive. "After" is strict: a certificate issued on the birthday itself counts
that birthday as day zero, so it runs to the birthday five years later.

A holder born on 29 February has a birthday on 28 February in non-leap years (assumption given
in the project brief; it makes the certificate end no later than the calendar allows).
"""

from __future__ import annotations

from datetime import date

CERTIFICATE_BIRTHDAYS: int = 5  # the certificate ends on the 5th birthday after issuance


def birthday_in(birthdate: date, year: int) -> date:
    """The holder's birthday in ``year``; 29 Feb becomes 28 Feb in non-leap years."""
    try:
        return birthdate.replace(year=year)
    except ValueError:  # only 29 Feb in a non-leap year
        return date(year, 2, 28)


def nth_birthday_after(birthdate: date, day: date, n: int) -> date:
    """The ``n``-th birthday strictly after ``day`` (n >= 1)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    first_year = day.year if birthday_in(birthdate, day.year) > day else day.year + 1
    return birthday_in(birthdate, first_year + n - 1)


def certificate_validity(birthdate: date, issued_on: date) -> tuple[date, date]:
    """``(first valid day, last valid day)`` of a certificate issued on ``issued_on``.

    >>> certificate_validity(date(1980, 6, 1), date(2024, 3, 10))
    (datetime.date(2024, 3, 10), datetime.date(2028, 6, 1))
    >>> certificate_validity(date(1980, 6, 1), date(2024, 6, 1))
    (datetime.date(2024, 6, 1), datetime.date(2029, 6, 1))
    """
    if issued_on < birthdate:
        raise ValueError(f"certificate issued on {issued_on} before the holder's birth on {birthdate}")
    return issued_on, nth_birthday_after(birthdate, issued_on, CERTIFICATE_BIRTHDAYS)
