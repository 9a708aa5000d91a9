# Boot-time half of the sinks: URL parsing, TLS contexts and building the
# sink objects from validated config entries. forwarder.setup() unloads it
# once the sinks exist; sinks.check uses it while a config is checked.
from compat import unload

def parse_url(url):
    """(tls, host, port, path) of an http:// or https:// URL; ValueError says why not."""
    if url.startswith("http://"):
        tls, rest, port = False, url[7:], 80
    elif url.startswith("https://"):
        tls, rest, port = True, url[8:], 443
    else:
        raise ValueError("must start with http:// or https://, got %r" % url)
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if "@" in hostport:
        raise ValueError("user:password@ in the URL is not supported; use token")
    if hostport.startswith("["):
        raise ValueError("IPv6 literals are not supported")
    host = hostport
    if ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        try:
            port = int(p)
        except ValueError:
            raise ValueError("port %r is not a number" % p)
        if not 0 < port < 65536:
            raise ValueError("port %d out of range" % port)
    if not host:
        raise ValueError("no host in %r" % url)
    for c in " \r\n":
        if c in url:
            raise ValueError("spaces or line breaks are not allowed")
    return tls, host, port, path


def read_ca(path):
    """The first certificate of a PEM or DER file, as DER: the form every
    mbedtls build takes (some are built without PEM support)."""
    with open(path, "rb") as f:
        data = f.read()
    i = data.find(b"-----BEGIN CERTIFICATE-----")
    if i < 0:
        return data
    j = data.find(b"-----END CERTIFICATE-----", i)
    if j < 0:
        raise ValueError("%s: PEM certificate without its END line" % path)
    import binascii

    return binascii.a2b_base64(b"".join(data[i + 27 : j].split()))


def tls_context(ca=None, verify=True):
    """An ssl context for a client. verify: check the server's certificate
    and host name against ca (a PEM or DER file on flash) or, on CPython,
    the system's CAs. MicroPython has no CA store: verify needs ca there."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # type: ignore[attr-defined]  # MicroPython's SSLContext has it; the stub lacks it
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]  # as above
    if ca:
        ctx.load_verify_locations(cadata=read_ca(ca))
    elif hasattr(ctx, "load_default_certs"):
        ctx.load_default_certs()
    return ctx


def build_sinks(entries, gateway="mbus-gateway", on_poll=None, log=print):
    """Sink objects for validated config entries (see sinks.check). gateway
    names this gateway in topics and ids; on_poll(meter) is called (plain
    function) when an MQTT command asks for a reading now."""
    from sinks import check

    entries = [check.with_defaults(e) for e in entries]
    del check
    unload("sinks.check")  # boot-time code: let its RAM go
    out = []  # type: list
    for e in entries:
        if e["type"] == "mqtt":
            from sinks.mqtt import MQTTSink

            out.append(MQTTSink(e, gateway, on_poll, log))
        else:
            from sinks.http import HTTPSink

            out.append(HTTPSink(e, gateway, log))
    return out
