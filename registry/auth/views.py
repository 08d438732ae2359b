"""Users and API tokens under /api/v1: administrators manage every account, a bureau
user the accounts of directors and HR; everyone sees and revokes the own tokens."""

from registry.api import Blueprint
from registry.db import get_session
from registry.errors import Forbidden
from registry.messages import _

from . import services
from .access import current_user, may_disable, may_manage, may_revoke, require
from .schemas import (
    IssuedTokenSchema,
    NewTokenSchema,
    NewUserSchema,
    PasswordResetSchema,
    RoleSchema,
    TokenQuerySchema,
    TokenSchema,
    UserQuerySchema,
    UserSchema,
)

users = Blueprint("users", __name__, url_prefix="/api/v1/users", description="用户")
tokens = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens", description="API 令牌")
ALL = ("admin", "bureau", "hr", "director", "inspector")


@users.route("", methods=["GET"])
@require("admin", "bureau")
@users.arguments(UserQuerySchema, location="query")
@users.response(200, UserSchema(many=True))
@users.paginate()
def list_users(query, pagination_parameters):
    """List users by username, a page at a time (`page`, `page_size`; `X-Pagination`)."""
    items, total = services.list_users(
        get_session(),
        offset=pagination_parameters.first_item,
        limit=pagination_parameters.page_size,
        role=query["role"],
    )
    pagination_parameters.item_count = total
    return items


@users.route("", methods=["POST"])
@require("admin", "bureau")
@users.arguments(NewUserSchema)
@users.response(201, UserSchema)
def create_user(data):
    """Create an account; its first sign-in must set a new password. A bureau user
    creates director and hr accounts only."""
    may_manage(current_user(), data["role"])
    session = get_session()
    user = services.create_user(session, current_user(), data, temporary=True)
    return user


def _managed(user_id: int):
    session = get_session()
    user = services.get_user_by_id(session, user_id)
    may_manage(current_user(), user.role)
    return session, user


@users.route("/<id:user_id>", methods=["GET"])
@require("admin", "bureau")
@users.response(200, UserSchema)
def get_user(user_id):
    """Read an account."""
    return _managed(user_id)[1]


@users.route("/<id:user_id>/disable", methods=["POST"])
@require("admin", "bureau")
@users.response(200, UserSchema)
def disable_user(user_id):
    """Disable an account: its sessions end and its tokens are revoked at once."""
    session, user = _managed(user_id)
    may_disable(current_user(), user)
    services.disable_user(session, current_user(), user)
    return user


@users.route("/<id:user_id>/enable", methods=["POST"])
@require("admin", "bureau")
@users.response(200, UserSchema)
def enable_user(user_id):
    """Let a disabled account in again (its old tokens stay revoked)."""
    session, user = _managed(user_id)
    services.enable_user(session, current_user(), user)
    return user


@users.route("/<id:user_id>/role", methods=["POST"])
@require("admin")
@users.arguments(RoleSchema)
@users.response(200, UserSchema)
def set_role(data, user_id):
    """Give an account another role (a director: with the institution's code)."""
    session, user = _managed(user_id)
    services.set_role(session, current_user(), user, data["role"], data["institution"])
    return user


@users.route("/<id:user_id>/reset-password", methods=["POST"])
@require("admin")
@users.arguments(PasswordResetSchema)
@users.response(200, UserSchema)
def reset_password(data, user_id):
    """Set a temporary password: the account's sessions end, and its next sign-in must
    choose a new password."""
    session, user = _managed(user_id)
    services.reset_password(session, current_user(), user, data["password"])
    return user


@tokens.route("", methods=["GET"])
@require(*ALL)
@tokens.arguments(TokenQuerySchema, location="query")
@tokens.response(200, TokenSchema(many=True))
@tokens.paginate()
def list_tokens(query, pagination_parameters):
    """The own tokens, newest first; an administrator sees everyone's (or one user's)."""
    session, user = get_session(), current_user()
    owner = user
    if user.role == "admin":
        owner = services.get_user(session, query["username"]) if query["username"] else None
    elif query["username"] not in (None, user.username):
        raise Forbidden(_("you see only your own tokens"))
    items, total = services.list_tokens(
        session,
        offset=pagination_parameters.first_item,
        limit=pagination_parameters.page_size,
        user=owner,
    )
    pagination_parameters.item_count = total
    return items


@tokens.route("", methods=["POST"])
@require(*ALL)
@tokens.arguments(NewTokenSchema, required=False)  # no body: a token of one's own, defaults
@tokens.response(201, IssuedTokenSchema)
def create_token(data):
    """Issue a token for oneself (an administrator: for anyone), shown once."""
    session, user = get_session(), current_user()
    owner = user
    if data["username"] not in (None, user.username):
        if user.role != "admin":
            raise Forbidden(_("you issue tokens for yourself only"))
        owner = services.get_user(session, data["username"])
    token, row = services.issue_token(
        session, user, owner, label=data["label"], expires_in_days=data["expires_in_days"]
    )
    row.token = token
    return row


@tokens.route("/<id:token_id>/revoke", methods=["POST"])
@require(*ALL)
@tokens.response(200, TokenSchema)
def revoke_token(token_id):
    """Revoke a token at once: the own, or for an administrator anyone's."""
    session, user = get_session(), current_user()
    token = services.get_token(session, token_id)
    may_revoke(user, token)
    services.revoke_token(session, user, token)
    return token
