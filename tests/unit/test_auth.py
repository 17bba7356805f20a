"""Token signing: user tokens and the gateway's internal identity."""

import jwt
import pytest

from ember import auth

SECRET = b"s" * 48
ALICE = auth.Identity("proj-a", "alice", ("admin",))


def test_user_token_round_trip():
    token = auth.create_token(ALICE, SECRET, 60)
    assert auth.verify_token(token, SECRET) == ALICE
    assert auth.verify_token(token, SECRET).is_admin
    assert not auth.Identity("p", "u").is_admin


def test_expired_token_is_refused():
    token = auth.create_token(ALICE, SECRET, -5)
    with pytest.raises(auth.InvalidToken, match="expired"):
        auth.verify_token(token, SECRET)


def test_token_signed_with_another_secret_is_refused():
    token = auth.create_token(ALICE, b"x" * 48, 60)
    with pytest.raises(auth.InvalidToken, match="invalid token"):
        auth.verify_token(token, SECRET)


def test_a_verified_token_is_not_accepted_under_another_secret():
    token = auth.create_token(ALICE, SECRET, 60)
    auth.verify_token(token, SECRET)
    with pytest.raises(auth.InvalidToken):
        auth.verify_token(token, b"y" * 48)


def test_tampered_claims_are_refused():
    header, claims, signature = auth.create_token(ALICE, SECRET, 60).split(".")
    other = auth.create_token(auth.Identity("proj-b", "alice"), SECRET, 60).split(".")[1]
    with pytest.raises(auth.InvalidToken):
        auth.verify_token(f"{header}.{other}.{signature}", SECRET)


def test_token_without_project_is_refused():
    token = jwt.encode(
        {"iss": auth.ISSUER, "aud": auth.USER_AUDIENCE, "sub": "u", "exp": 2**40}, SECRET, algorithm="HS256"
    )
    with pytest.raises(auth.InvalidToken, match="no project"):
        auth.verify_token(token, SECRET)


def test_user_and_internal_tokens_are_not_interchangeable():
    user = auth.create_token(ALICE, SECRET, 60)
    internal = auth.create_internal(ALICE, SECRET)
    assert auth.verify_internal(internal, SECRET) == ALICE
    with pytest.raises(auth.InvalidToken):
        auth.verify_internal(user, SECRET)
    with pytest.raises(auth.InvalidToken):
        auth.verify_token(internal, SECRET)


def test_internal_token_is_reused_while_fresh():
    assert auth.create_internal(ALICE, SECRET) == auth.create_internal(ALICE, SECRET)
    assert auth.create_internal(ALICE, SECRET) != auth.create_internal(auth.Identity("proj-a", "bob"), SECRET)


@pytest.mark.parametrize(
    "metadata, token",
    [
        ((("authorization", "Bearer abc"),), "abc"),
        ((("authorization", "bearer  abc "),), "abc"),
        ((("authorization", "Basic abc"),), ""),
        ((("x-other", "Bearer abc"),), ""),
        ((), ""),
        (None, ""),
    ],
)
def test_bearer_header(metadata, token):
    assert auth.bearer(metadata) == token
