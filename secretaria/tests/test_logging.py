import logging

from secretaria.logging import MaskPhoneNumbersFilter, mask_phone


def test_phone_numbers_are_masked_keeping_the_last_four_digits():
    assert mask_phone("from 5511987654321@s.whatsapp.net said hi") == "from ***4321 said hi"
    assert mask_phone("number +55 (11) 98765-4321 ok") == "number ***4321 ok"
    assert mask_phone("appointment 42 at 2024-07-01 09:00") == "appointment 42 at 2024-07-01 09:00"


def test_log_records_are_masked():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sending to %s", ("5511987654321",), None)
    MaskPhoneNumbersFilter().filter(record)
    assert record.getMessage() == "sending to ***4321"


def test_webhook_url_tokens_are_masked():
    from secretaria.logging import mask_sensitive

    line = '127.0.0.1 "POST /webhook/whaticket/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_- HTTP/1.1" 401'
    assert mask_sensitive(line) == '127.0.0.1 "POST /webhook/whaticket/AbCd*** HTTP/1.1" 401'
