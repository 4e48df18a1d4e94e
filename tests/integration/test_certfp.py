"""CertFP with a self-signed client certificate: TLS accepts it, SASL EXTERNAL uses it."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import ssl
import subprocess
from pathlib import Path

from tests.conftest import ServerStarter
from tests.integration.support import aio, unique


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


async def _connect(
    port: int, cert: Path, key: Path
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(cert, key)
    return await asyncio.open_connection("127.0.0.1", port, ssl=context)


async def _until(reader: asyncio.StreamReader, *words: str) -> list[str]:
    seen: list[str] = []
    while True:
        raw = await asyncio.wait_for(reader.readline(), 10)
        assert raw, f"connection closed; saw {seen}"
        text = raw.decode().rstrip("\r\n")
        seen.append(text)
        parts = text.split(" ")
        if any(word in parts[:3] for word in words):
            return seen


@aio
async def test_self_signed_client_certificate_logs_in_with_sasl_external(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    server = ircpsyc_server(tls=tls_cert)
    assert server.tls_port is not None
    cert, key = _self_signed(tmp_path, "alice")
    nick = unique("cfp")
    reader, writer = await _connect(server.tls_port, cert, key)
    writer.write(f"NICK {nick}\r\nUSER a 0 * :a\r\n".encode())
    await _until(reader, "001")
    writer.write(b"PRIVMSG NickServ :REGISTER correct-horse-battery\r\n")
    await _until(reader, "NOTICE")
    writer.write(b"PRIVMSG NickServ :CERT ADD\r\n")
    lines = await _until(reader, "NOTICE")
    writer.write(b"QUIT\r\n")
    writer.close()
    # A new connection with the same self-signed certificate logs in without a password.
    reader, writer = await _connect(server.tls_port, cert, key)
    writer.write(b"CAP LS 302\r\nCAP REQ :sasl\r\nAUTHENTICATE EXTERNAL\r\n")
    await _until(reader, "AUTHENTICATE")
    writer.write(b"AUTHENTICATE " + base64.b64encode(nick.encode()) + b"\r\n")
    lines = await _until(reader, "903", "904")
    assert any(" 900 " in f" {line} " for line in lines) and " 903 " in f" {lines[-1]} ", lines
    writer.close()


def _expired(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate whose validity ended yesterday."""
    cert, key, csr = directory / f"{name}.crt", directory / f"{name}.key", directory / "r.csr"
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=60)
    subject = f"/CN={name}"
    run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
         "-keyout", str(key), "-out", str(csr)])  # fmt: skip
    run(["openssl", "x509", "-req", "-in", str(csr), "-signkey", str(key), "-days", "-1",
         "-out", str(cert)])  # fmt: skip
    return cert, key


@aio
async def test_expired_client_certificate_is_accepted_for_certfp(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    """CertFP identifies a key by its fingerprint (as Ergo and InspIRCd do): the
    certificate's dates do not matter (README, Security: Client certificates)."""
    server = ircpsyc_server(tls=tls_cert)
    assert server.tls_port is not None
    cert, key = _expired(tmp_path, "old")
    pem = cert.read_text()
    checkend = ["openssl", "x509", "-in", str(cert), "-noout", "-checkend", "0"]
    assert subprocess.run(checkend, capture_output=True, timeout=60).returncode == 1  # expired
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    nick = unique("old")
    reader, writer = await _connect(server.tls_port, cert, key)
    writer.write(f"NICK {nick}\r\nUSER a 0 * :a\r\n".encode())
    await _until(reader, "001")
    writer.write(b"PRIVMSG NickServ :REGISTER correct-horse-battery\r\n")
    await _until(reader, "NOTICE")
    writer.write(b"PRIVMSG NickServ :CERT ADD\r\n")
    seen: list[str] = []
    while not any(fingerprint in line.lower() for line in seen):
        seen += await _until(reader, "NOTICE")  # the server saw the expired certificate
    writer.write(b"QUIT\r\n")
    writer.close()
    reader, writer = await _connect(server.tls_port, cert, key)
    writer.write(b"CAP LS 302\r\nCAP REQ :sasl\r\nAUTHENTICATE EXTERNAL\r\n")
    await _until(reader, "AUTHENTICATE")
    writer.write(b"AUTHENTICATE " + base64.b64encode(nick.encode()) + b"\r\n")
    lines = await _until(reader, "903", "904")
    assert " 903 " in f" {lines[-1]} ", lines
    writer.close()
