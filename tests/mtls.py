"""Channels to the internal ports of a test cluster: mutual TLS with a
certificate its CA signed, as Ember processes call each other."""

from __future__ import annotations

import pathlib

import grpc

from ember import pki


def credentials(data_dir: pathlib.Path) -> grpc.ChannelCredentials:
    """A client certificate of the cluster's own CA (made by its Mesh)."""
    files = pki.ensure_local(data_dir)
    return grpc.ssl_channel_credentials(files.ca.read_bytes(), files.key.read_bytes(), files.cert.read_bytes())


def channel(data_dir: pathlib.Path, address: str) -> grpc.Channel:
    return grpc.secure_channel(address, credentials(data_dir))

