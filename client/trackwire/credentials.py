"""The token the client sends to a server with authentication (`trackwire server --auth`).

Every call carries `authorization: Bearer <token>` (trackwire_protocol.bearer). The token
is, first found:

1. the one given to `TrackwireClient(uri, token=...)`;
2. the one given to `trackwire.set_tracking_token(token)` (a process setting, as
   `set_tracking_uri`; None forgets it);
3. `$TRACKWIRE_TOKEN`;
4. the credentials file's entry for the tracking URI: `~/.trackwire/credentials`, or the
   file `$TRACKWIRE_CREDENTIALS` names, written by `trackwire login` (an INI file with
   one section per tracking URI and its `token`, readable only by its owner);

else none: the calls go without a token (enough for a server without --auth).
A token is never logged, nor shown in a repr or an error message.
"""

from __future__ import annotations

import configparser
import logging
import os
import pathlib
import stat
import tempfile

from trackwire_protocol.bearer import check_token

TOKEN_ENV = "TRACKWIRE_TOKEN"
CREDENTIALS_ENV = "TRACKWIRE_CREDENTIALS"
TOKEN_KEY = "token"
TOKEN_ID_KEY = "token_id"  # the id of a sign-in token `trackwire login --user` made

log = logging.getLogger("trackwire.credentials")

# The token given to set_tracking_token (None: not set).
_tracking_token: str | None = None


def set_tracking_token(token: str | None) -> None:
    """The token every client made after this sends (`authorization: Bearer <token>`),
    ahead of $TRACKWIRE_TOKEN and the credentials file; None forgets the setting."""
    global _tracking_token
    _tracking_token = None if token is None else check_token(token)


def token_setting() -> tuple[str | None, str | None]:
    """What the process says about its token, cheaply (no file read): the token given
    to set_tracking_token and $TRACKWIRE_TOKEN. The fluent API keeps a client per URI and
    setting, so that a new setting gets a new client."""
    return _tracking_token, os.environ.get(TOKEN_ENV) or None


def resolve_token(uri: str, explicit: str | None = None) -> str | None:
    """The token to send to the server `uri` names (module docstring), or None."""
    if explicit is not None:
        return check_token(explicit)
    setting, env = token_setting()
    if setting is not None:
        return setting
    if env is not None:
        try:
            return check_token(env.strip())
        except ValueError as e:
            raise ValueError(f"${TOKEN_ENV}: {e}") from None
    return saved_token(uri)


# -- the credentials file ------------------------------------------------------------------


def credentials_path() -> pathlib.Path:
    """$TRACKWIRE_CREDENTIALS, else ~/.trackwire/credentials."""
    configured = os.environ.get(CREDENTIALS_ENV)
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path.home() / ".trackwire" / "credentials"


def server_key(uri: str) -> str:
    """The credentials file's section for a tracking URI: `grpc://host:port` and
    `host:port` are one server; `grpcs://host:port` keeps its scheme."""
    uri = uri.strip().rstrip("/")
    if "://" not in uri:
        return f"grpc://{uri}"
    return uri


def _read(path: pathlib.Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return parser
    except OSError as e:
        raise ValueError(f"credentials file {path}: cannot read it: {e.strerror or e}") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as e:
        # The parser's message quotes lines; they may hold a token.
        raise ValueError(
            f"credentials file {path}: not an INI file ({type(e).__name__}); fix or remove it"
        ) from None
    return parser


def _warn_if_readable_by_others(path: pathlib.Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "credentials file %s can be read by other users (mode %o): chmod 600 it",
            path,
            stat.S_IMODE(mode),
        )


def saved_token(uri: str) -> str | None:
    """The credentials file's token for `uri`, or None."""
    path = credentials_path()
    parser = _read(path)
    section = server_key(uri)
    if not parser.has_option(section, TOKEN_KEY):
        return None
    _warn_if_readable_by_others(path)
    try:
        return check_token(parser.get(section, TOKEN_KEY).strip())
    except ValueError as e:
        raise ValueError(f"credentials file {path}, [{section}]: {e}") from None


def _write(path: pathlib.Path, parser: configparser.ConfigParser) -> None:
    """Writes the file whole, readable only by its owner, replacing it atomically."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
    fd, temporary = tempfile.mkstemp(prefix=".credentials-", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            parser.write(f)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save_token(uri: str, token: str, token_id: int | None = None) -> pathlib.Path:
    """Keeps `token` (and its id, if known) as the one for `uri` in the credentials file
    (mode 0600); returns the file's path."""
    check_token(token)
    path = credentials_path()
    parser = _read(path)
    section = server_key(uri)
    parser.remove_section(section)
    parser.add_section(section)
    parser.set(section, TOKEN_KEY, token)
    if token_id is not None:
        parser.set(section, TOKEN_ID_KEY, str(int(token_id)))
    _write(path, parser)
    return path


def saved_token_id(uri: str) -> int | None:
    """The id of `uri`'s saved token, when `trackwire login --user` made it."""
    parser = _read(credentials_path())
    try:
        return parser.getint(server_key(uri), TOKEN_ID_KEY, fallback=None)
    except ValueError:
        return None


def forget_token(uri: str) -> bool:
    """Removes `uri`'s entry from the credentials file; whether there was one."""
    path = credentials_path()
    parser = _read(path)
    if not parser.remove_section(server_key(uri)):
        return False
    _write(path, parser)
    return True
