"""Token signing (user tokens and the gateway's internal identity) and the
authenticators that admit them at the gateway and at the services."""

import jwt
import pytest

from ember import auth, errors
from ember.directory import Directory
from ember.grpc_server import bearer_authenticator, internal_authenticator
from ember.runtime import Runtime
from ember.testing import make_settings

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


@pytest.fixture
def tokens() -> dict[str, str]:
    """Made per test: made at import, they would expire before a long suite reaches them."""
    return {
        "good": auth.create_token(ALICE, SECRET, 60),
        "forged": auth.create_token(ALICE, b"x" * 48, 60),
        "expired": auth.create_token(ALICE, SECRET, -5),
        "internal": auth.create_internal(ALICE, SECRET),
        "foreign internal": auth.create_internal(ALICE, b"x" * 48),
    }


def refusal(authenticate, metadata, tokens) -> errors.EmberError:
    with pytest.raises(errors.Unauthenticated) as refused:
        authenticate(metadata)
    # Refusals are logged and sent back: neither may repeat the credential.
    assert not any(token in refused.value.message for token in tokens.values())
    return refused.value


def filled(metadata, tokens) -> tuple:
    return tuple((key, value.format(**{k.replace(" ", "_"): v for k, v in tokens.items()})) for key, value in metadata)


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ((), "TOKEN_MISSING"),
        ((("authorization", "Basic {good}"),), "TOKEN_MISSING"),
        ((("authorization", "Bearer {forged}"),), "TOKEN_INVALID"),
        ((("authorization", "Bearer {expired}"),), "TOKEN_INVALID"),
        ((("authorization", "Bearer {internal}"),), "TOKEN_INVALID"),
        (((auth.INTERNAL_METADATA_KEY, "{internal}"),), "TOKEN_MISSING"),
    ],
)
def test_the_gateway_admits_valid_bearer_tokens_only(metadata, reason, tokens):
    authenticate = bearer_authenticator(SECRET)
    assert authenticate((("authorization", f"Bearer {tokens['good']}"),)) == ALICE
    assert refusal(authenticate, filled(metadata, tokens), tokens).reason == reason


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        ((auth.INTERNAL_METADATA_KEY, ""),),
        ((auth.INTERNAL_METADATA_KEY, "{good}"),),
        (("authorization", "Bearer {good}"),),
        ((auth.INTERNAL_METADATA_KEY, "{foreign_internal}"),),
    ],
)
def test_services_admit_the_gateways_identity_only(metadata, tokens):
    authenticate = internal_authenticator(SECRET)
    assert authenticate(((auth.INTERNAL_METADATA_KEY, tokens["internal"]),)) == ALICE
    assert refusal(authenticate, filled(metadata, tokens), tokens).reason == "NOT_FROM_GATEWAY"


OLD, NEW, UNKNOWN = b"o" * 48, b"n" * 48, b"u" * 48


def test_accepted_secrets_are_read_from_the_setting():
    assert auth.load_accepted("") == ()
    assert auth.load_accepted(" a, b,,a ,") == (b"a", b"b")


@pytest.mark.parametrize("create, verify", [(auth.create_token, auth.verify_token),
                                            (auth.create_internal, auth.verify_internal)])
def test_tokens_of_an_accepted_secret_are_admitted_and_unknown_ones_are_not(create, verify):
    def made_with(secret: bytes) -> str:
        return create(ALICE, secret, 60) if create is auth.create_token else create(ALICE, secret)

    assert verify(made_with(OLD), NEW, (OLD,)) == ALICE
    assert verify(made_with(NEW), OLD, (NEW,)) == ALICE
    assert verify(made_with(NEW), NEW, (OLD,)) == ALICE
    with pytest.raises(auth.InvalidToken, match="invalid token: Signature"):
        verify(made_with(UNKNOWN), NEW, (OLD,))


def test_a_token_admitted_under_an_accepted_secret_is_refused_once_that_secret_is_dropped():
    old_user, old_internal = auth.create_token(ALICE, OLD, 60), auth.create_internal(ALICE, OLD)
    assert auth.verify_token(old_user, NEW, (OLD,)) == ALICE
    assert auth.verify_internal(old_internal, NEW, (OLD,)) == ALICE
    # The cache of verified tokens must not carry the old secret's word over.
    with pytest.raises(auth.InvalidToken):
        auth.verify_token(old_user, NEW)
    with pytest.raises(auth.InvalidToken):
        auth.verify_internal(old_internal, NEW)


def test_an_expired_token_of_an_accepted_secret_says_it_expired():
    with pytest.raises(auth.InvalidToken, match="expired"):
        auth.verify_token(auth.create_token(ALICE, OLD, -5), NEW, (OLD,))


def test_the_authenticators_admit_accepted_secrets_and_signing_uses_the_current_one(tmp_path):
    gateway, service = bearer_authenticator(NEW, (OLD,)), internal_authenticator(NEW, (OLD,))
    assert gateway((("authorization", f"Bearer {auth.create_token(ALICE, OLD, 60)}"),)) == ALICE
    assert service(((auth.INTERNAL_METADATA_KEY, auth.create_internal(ALICE, OLD)),)) == ALICE
    # A process signs with its auth_secret, never with a secret it only accepts.
    rotated = Runtime(make_settings(tmp_path, auth_secret=NEW.decode(), auth_secrets_accepted=OLD.decode()), "volume")
    signed = dict(rotated.internal_client(Directory(6.0)).metadata(ALICE))[auth.INTERNAL_METADATA_KEY]
    assert internal_authenticator(NEW)(((auth.INTERNAL_METADATA_KEY, signed),)) == ALICE
    with pytest.raises(errors.Unauthenticated):
        internal_authenticator(OLD)(((auth.INTERNAL_METADATA_KEY, signed),))
    with pytest.raises(errors.Unauthenticated, match="invalid token"):
        gateway((("authorization", f"Bearer {auth.create_token(ALICE, UNKNOWN, 60)}"),))
