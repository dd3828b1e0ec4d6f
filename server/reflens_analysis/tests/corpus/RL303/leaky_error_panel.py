"""Admin error panel: shows the errors logged since the process started."""
import logging

from flask import Blueprint, render_template

panel = Blueprint("errors", __name__)


class ErrorPanelHandler(logging.Handler):
    """Collects every ERROR record so the admin page can show them."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)  # expect: RL303

    def recent(self, limit=50):
        return self.records[-limit:]


_handler = ErrorPanelHandler()


def install(app):
    app.logger.addHandler(_handler)
    logging.getLogger().addHandler(_handler)
    app.register_blueprint(panel)


@panel.route("/admin/errors")
def show_errors():
    rows = [
        {
            "when": record.created,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for record in _handler.recent()
    ]
    return render_template("errors.html", rows=rows)
