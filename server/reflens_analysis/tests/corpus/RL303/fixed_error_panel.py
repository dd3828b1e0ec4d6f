"""Admin error panel: shows the errors logged since the process started."""
import collections
import logging

from flask import Blueprint, render_template

panel = Blueprint("errors", __name__)


class ErrorPanelHandler(logging.Handler):
    """Keeps the text of the last ERROR records so the admin page can show them."""

    def __init__(self, keep=500):
        super().__init__(level=logging.ERROR)
        self.entries = collections.deque(maxlen=keep)

    def emit(self, record):
        self.entries.append((record.created, record.name, self.format(record)))

    def recent(self, limit=50):
        return list(self.entries)[-limit:]


_handler = ErrorPanelHandler()


def install(app):
    app.logger.addHandler(_handler)
    logging.getLogger().addHandler(_handler)
    app.register_blueprint(panel)


@panel.route("/admin/errors")
def show_errors():
    rows = [
        {"when": created, "logger": name, "message": text}
        for created, name, text in _handler.recent()
    ]
    return render_template("errors.html", rows=rows)
