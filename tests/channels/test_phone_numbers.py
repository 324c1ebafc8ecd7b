import pytest

from channels.phone_numbers import InvalidPhoneNumber, is_e164, to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+4915112345678", "+4915112345678"),
        ("+1 (631) 555-1181", "+16315551181"),
        ("0049 151 1234 5678", "+4915112345678"),
        (" +44.20.7946.0018 ", "+442079460018"),
    ],
)
def test_numbers_in_international_form_are_normalised(raw: str, expected: str) -> None:
    assert to_e164(raw) == expected


def test_whatsapp_wa_id_without_plus_is_accepted_only_when_asked() -> None:
    assert to_e164("16315551181", assume_plus=True) == "+16315551181"
    with pytest.raises(InvalidPhoneNumber):
        to_e164("16315551181")


@pytest.mark.parametrize(
    "raw", ["", "+0123456789", "+12", "+1234567890123456", "0151 12345", "+49abc"]
)
def test_numbers_that_are_not_e164_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="international form"):
        to_e164(raw)
    assert not is_e164(raw)
