"""The staff credential and lifetime-ban registry for infant-care institutions."""

from flask import Flask, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from registry import crypto, db, errors, files, web
from registry.api import init_api
from registry.config import Settings, load_settings
from registry.eligibility.rulesets import load_rulesets
from registry.imports.turns import hide_unfinished
from registry.keys import matching

# Pages may load only the registry's own files: no inline script, no other site, and no
# framing by another page (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The API answers JSON, CSV and images, never a page: nothing in them may run or frame.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    files.secure_instance(settings)  # folder 700, database and anchor 600
    keyring = crypto.Keyring.load(settings.keys_dir)  # ConfigError names what is wrong

    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.ensure_ascii = False
    app.extensions["registry.settings"] = settings
    app.extensions["registry.keyring"] = keyring
    app.extensions["registry.rulesets"] = load_rulesets()  # a bad file stops the start
    if settings.proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies, x_host=0
        )
    engine = db.make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        matching.check_database(engine, keyring)  # the keys are this database's, or no start
    except Exception:
        engine.dispose()
        raise
    db.init_app(app, engine)
    hide_unfinished()  # the rows of a roll still being written are nobody's to see
    init_api(app)
    # After the API's body limit (a body over it is refused unread), before anything else.
    app.before_request(db.read_body_first)
    _init_pages(app, settings, keyring)
    db.commit_every_view(app)  # the one place a request commits (API and pages)
    errors.register_error_handlers(app)  # after the API's own, which they replace
    return app


def _init_pages(app: Flask, settings: Settings, keyring: crypto.Keyring) -> None:
    """The web pages: CSRF on every form, cookies that scripts and other sites cannot
    use, the security headers, and the notes of use written after each request."""
    from registry.alerts import pages as alerts_pages
    from registry.auth.access import run_after_request_writes
    from registry.auth.pages import bp as auth_pages
    from registry.bans.pages import bp as bans_pages
    from registry.imports.pages import bp as imports_pages
    from registry.institutions import pages as institutions_pages
    from registry.people.pages import bp as people_pages
    from registry.rates import pages as rates_pages
    from registry.staffing.pages import bp as director_pages
    from registry.staffing.pages import rosters_bp as roster_pages

    app.secret_key = keyring.app_secret()
    app.config.update(
        # Flask's own signed cookie holds only the forms' CSRF token.
        SESSION_COOKIE_NAME="registry_csrf",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        PREFERRED_URL_SCHEME="https" if settings.https else "http",
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, for everything but the API
    )
    csrf = CSRFProtect(app)

    @app.before_request
    def _check_csrf():
        # The API takes bearer tokens only, which a browser never sends by itself;
        # everything else (every page form) needs the form's CSRF token.
        if not _is_api(request.path):
            csrf.protect()

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        policy = API_CONTENT_SECURITY_POLICY if _is_api(request.path) else CONTENT_SECURITY_POLICY
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.register_error_handler(CSRFError, _csrf_failed)
    app.teardown_request(run_after_request_writes)
    app.register_blueprint(auth_pages)
    app.register_blueprint(director_pages)
    app.register_blueprint(bans_pages)
    app.register_blueprint(roster_pages)
    app.register_blueprint(imports_pages)
    app.register_blueprint(people_pages)
    app.register_blueprint(institutions_pages.bp)
    app.register_blueprint(rates_pages.bp)
    app.register_blueprint(alerts_pages.bp)
    web.init_pages(app)


def _is_api(path: str) -> bool:
    return path == "/api/v1" or path.startswith("/api/v1/")


def _csrf_failed(exc: CSRFError):
    from flask import render_template

    return render_template("csrf.html", reason=exc.description), 400
