# Sinks: where readings go (MQTT broker, HTTP endpoint). Each kind lives in
# its own submodule, imported only when configured; sinks.build makes them
# from the config at boot (and is unloaded afterwards), sinks.check checks
# the config's "sinks" entries.
#
# A sink has: name, kind, async send(seq, body) (body: the stored reading,
# an outbox.Body; returns once the far end acknowledged it, raises otherwise),
# optional async run() (a background task, e.g. keeping a connection),
# async stop(), and status() -> dict.

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


class SinkError(Exception):
    """Delivery failed. permanent: the far end rejected this very reading
    (retrying it will not help); otherwise the failure is transient."""

    def __init__(self, msg, permanent=False):
        super().__init__(msg)
        self.permanent = permanent


def slug(text):
    """text with every character outside [A-Za-z0-9_-] replaced by '_'."""
    return "".join(c if c in NAME_CHARS else "_" for c in text)
