"""The benchmark harness's ``ircpsyc-xN``: N real ircpsyc processes linked as one
network, whose clients are spread over their IRC ports (benchmarks/servers.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from benchmarks.servers import (
    LINK_SECRET,
    ServerSpec,
    linked_names,
    network_config,
    parse_server,
    write_ircpsyc_config,
)
from ircpsyc.config import load


def test_parse_linked_servers() -> None:
    assert parse_server("ircpsyc-x2") == ServerSpec("ircpsyc", processes=2)
    assert parse_server("ircpsyc-x2").label == "ircpsyc-x2"
    assert parse_server("ircpsyc").label == "ircpsyc"
    for bad in ("ircpsyc-x0", "ircpsyc-x99", "ircpsyc-xx"):
        with pytest.raises(ValueError):
            parse_server(bad)


def test_generated_mesh_configs_load(tmp_path: Path) -> None:
    """Every process of a mesh of three gets a config the server accepts: its own
    name, a PSYC listener, the same network list, a link to each other process
    (of each pair the lower one dials)."""
    names = linked_names(3)
    psyc = [41001, 41002, 41003]
    for index, name in enumerate(names):
        folder = tmp_path / name
        folder.mkdir()
        write_ircpsyc_config(
            folder, 40000 + index, name, psyc[index], network_config(names, index, psyc)
        )
        config = load(str(folder / "ircpsyc.toml"))
        assert config.server.name == name
        assert config.listen.psyc == f"127.0.0.1:{psyc[index]}"
        assert list(config.network.servers) == names
        links = {link.name: link for link in config.links}
        assert set(links) == set(names) - {name}
        for other, link in links.items():
            dials = index < names.index(other)
            assert link.address == (f"127.0.0.1:{psyc[names.index(other)]}" if dials else "")
            assert link.secret == LINK_SECRET


def _welcome(port: int, nick: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10.0) as sock:
        sock.sendall(f"NICK {nick}\r\nUSER u 0 * :u\r\n".encode())
        data = b""
        while b" 376 " not in data and b" 422 " not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        return data


def test_two_linked_processes_start_as_one_network() -> None:
    handle = ServerSpec("ircpsyc", processes=2).start()
    try:
        assert len(handle.processes) == 2 and handle.alive()
        ports = {p.port for p in handle.processes}
        assert len(ports) == 2
        # Clients are spread over both ports, the same way in every run.
        spread = [handle.port_of(i) for i in range(200)]
        assert set(spread) == ports
        assert 60 < spread.count(handle.port) < 140
        assert spread == [handle.port_of(i) for i in range(200)]
        # Each process knows the other: 251 counts two servers on both.
        for i, port in enumerate(sorted(ports)):
            assert b"on 2 servers" in _welcome(port, f"probe{i}")
        each = handle.cpu_seconds_each()
        assert each is not None and len(each) == 2
        assert handle.cpu_seconds() == pytest.approx(sum(each))
        assert "Traceback" not in handle.log_tail(200)
    finally:
        handle.stop()
    assert not handle.alive()
    assert handle.workdir is not None and not handle.workdir.exists()
