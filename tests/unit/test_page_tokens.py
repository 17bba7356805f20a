"""Page tokens: tamper-proof, tied to their list, and taken from a process
that signs with another secret while auth_secret is rotated."""

import pytest

from ember import pagination
from ember.errors import InvalidArgument

OLD, NEW, UNKNOWN = b"page-old" * 6, b"page-new" * 6, b"page-unknown" * 4


def test_a_page_token_names_the_last_item_of_its_list():
    token = pagination.encode(NEW, "volumes", "2024-01-01 00:00:00", "v-9")
    assert pagination.decode(NEW, "volumes", token) == ("2024-01-01 00:00:00", "v-9")
    assert pagination.decode(NEW, "volumes", "") is None
    with pytest.raises(InvalidArgument):
        pagination.decode(NEW, "snapshots", token)
    with pytest.raises(InvalidArgument):
        pagination.decode(NEW, "volumes", token[:-2])


def test_page_tokens_of_accepted_secrets_are_taken_and_others_refused():
    signer = b"rotating" * 6
    pagination.accept_also(signer, (OLD,))
    assert pagination.decode(signer, "volumes", pagination.encode(OLD, "volumes", "c", "v-1")) == ("c", "v-1")
    with pytest.raises(InvalidArgument):
        pagination.decode(signer, "volumes", pagination.encode(UNKNOWN, "volumes", "c", "v-1"))
    # Accepting is per signing secret: a process that does not accept OLD refuses its tokens.
    with pytest.raises(InvalidArgument):
        pagination.decode(NEW, "volumes", pagination.encode(OLD, "volumes", "c", "v-1"))
