"""TLS server contexts that accept any client certificate, for CertFP.

IRC users identify with self-signed client certificates (SASL EXTERNAL,
NickServ CERT): what matters is the fingerprint, not a CA.  Python's `ssl`
can ask for a client certificate only with verification (CERT_OPTIONAL), and
OpenSSL then fails the handshake of every self-signed one.  The standard
library has no verify callback, so we install one through libssl's
`SSL_CTX_set_verify`, after checking that we found the right `SSL_CTX`.
If anything does not fit, the context asks for no client certificate at all
(connections always work; CertFP is then unavailable) and we say so.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
import sys

log = logging.getLogger(__name__)

_SSL_VERIFY_PEER = 0x01
_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept_any(preverify_ok: int, store: int) -> int:
    return 1  # any certificate: the fingerprint is checked later, by the services


_accept = _VerifyCallback(_accept_any)  # module-level: must outlive every context


def _ssl_ctx_pointer(context: ssl.SSLContext) -> int:
    # CPython's PySSLContext starts with PyObject_HEAD, then `SSL_CTX *ctx`.
    offset = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
    return ctypes.c_void_p.from_address(id(context) + offset).value or 0


def accept_any_client_certificate(context: ssl.SSLContext) -> bool:
    """Ask for an optional client certificate and accept self-signed ones."""
    context.verify_mode = ssl.CERT_OPTIONAL
    try:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        get_mode = lib.SSL_CTX_get_verify_mode
        get_mode.argtypes = [ctypes.c_void_p]
        get_mode.restype = ctypes.c_int
        set_verify = lib.SSL_CTX_set_verify
        set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
        set_verify.restype = None
        pointer = _ssl_ctx_pointer(context)
        # Sanity check: the SSL_CTX we found has the mode CPython just set.
        if (
            not pointer
            or get_mode(pointer) != _SSL_VERIFY_PEER
            or sys.implementation.name != ("cpython")
        ):
            raise OSError("unexpected SSL_CTX layout")
        set_verify(pointer, _SSL_VERIFY_PEER, _accept)
        return True
    except (OSError, AttributeError, ImportError) as error:
        log.warning("TLS: self-signed client certificates unsupported here (%s)", error)
        context.verify_mode = ssl.CERT_NONE
        return False
