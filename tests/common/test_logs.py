import json
import logging

from common.logs import JsonFormatter, RequestIdFilter, about_request, reset_request, set_request


def record(message: str = "hello %s", *args: object) -> logging.LogRecord:
    made = logging.LogRecord("classifier.tasks", logging.INFO, __file__, 1, message, args or ("world",), None)
    RequestIdFilter().filter(made)
    return made


def test_a_line_carries_the_request_it_is_about() -> None:
    assert record().request_id == "-"
    with about_request("1234"):
        assert record().request_id == "1234"
    token = set_request("abcd")
    assert record().request_id == "abcd"
    reset_request(token)
    assert record().request_id == "-"


def test_json_lines_are_one_object_each_with_the_request_id_when_there_is_one() -> None:
    with about_request("1234"):
        line = JsonFormatter().format(record())
    entry = json.loads(line)
    assert "\n" not in line
    assert (entry["message"], entry["level"], entry["logger"], entry["request_id"]) == (
        "hello world", "INFO", "classifier.tasks", "1234")  # fmt: skip
    assert "request_id" not in json.loads(JsonFormatter().format(record()))
    try:
        raise ValueError("boom")
    except ValueError:
        failing = record()
        failing.exc_info = __import__("sys").exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failing))["exception"]
