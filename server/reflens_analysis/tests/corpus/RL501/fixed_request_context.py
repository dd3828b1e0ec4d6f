"""Request context for a small WSGI framework (threads from the server's pool)."""

import threading

_request_state = threading.local()


class Request:
    def __init__(self, environ):
        self.environ = environ
        self.path = environ.get("PATH_INFO", "/")
        self.body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))


def current_request():
    return getattr(_request_state, "request", None)


def current_user():
    request = current_request()
    return request.environ.get("REMOTE_USER") if request else None


def whoami():
    return current_user() or "anonymous"


ROUTES = {"/whoami": whoami}


def application(environ, start_response):
    request = Request(environ)
    _request_state.request = request
    try:
        view = ROUTES.get(request.path)
        if view is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body = view()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body.encode("utf-8")]
    finally:
        del _request_state.request
