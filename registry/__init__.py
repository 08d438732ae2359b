"""The staff credential and lifetime-ban registry for infant-care institutions."""

from flask import Flask

from registry import crypto, db, errors
from registry.api import init_api
from registry.config import Settings, load_settings
from registry.eligibility.rulesets import load_rulesets


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    keyring = crypto.Keyring.load(settings.keys_dir)  # ConfigError names what is wrong

    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.ensure_ascii = False
    app.extensions["registry.settings"] = settings
    app.extensions["registry.keyring"] = keyring
    app.extensions["registry.rulesets"] = load_rulesets()  # a bad file stops the start
    db.init_app(app, db.make_engine(settings.database_url))
    init_api(app)
    db.commit_every_view(app)  # the one place a request commits
    errors.register_error_handlers(app)  # after the API's own, which they replace
    return app
