"""Records the outcome of each step of a client scenario for a Go test.

A scenario script runs its steps in order and, at the end, prints one JSON
object to stdout: for each step's name either {"ok": <result>} or
{"error": "<ErrorName>: <message>"}. A failing step does not stop the
script, so that the test can tell every broken step from the next ones.
"""

import json
import sys
import time


class Steps:
    def __init__(self):
        self.results = {}

    def run(self, name, fn):
        """Runs fn and records its JSON-serialisable result, or its error."""
        try:
            self.results[name] = {"ok": fn()}
        except Exception as e:  # noqa: BLE001 - every failure is a result
            self.results[name] = {"error": error_text(e)}

    def skip(self, name, why):
        """Records that the installed client cannot do what step name does."""
        self.results[name] = {"unsupported": why}

    def dump(self):
        json.dump(self.results, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")


def error_text(e):
    """Names an error as "<name>: <message>": a Kafka error by its Kafka
    name (confluent-kafka's KafkaError) or else by its Python type."""
    if e.args and hasattr(e.args[0], "name") and callable(e.args[0].name):
        kafka_error = e.args[0]
        return "%s: %s" % (kafka_error.name(), kafka_error.str())
    return "%s: %s" % (type(e).__name__, e)


def until(fn, done, timeout=30.0, interval=0.2):
    """Calls fn until done(its result) holds or timeout seconds pass, and
    returns the last result. Brokers learn of metadata changes each at its
    own pace, so a client may ask one that has not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = fn()
            if done(result) or time.monotonic() > deadline:
                return result
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)
