"""A tiny HTTP router for the internal admin API."""

import collections


def require_auth(handler):
    def wrapper(request, *args, **kwargs):
        if not request.headers.get("Authorization"):
            return 401, {"error": "unauthorized"}
        return handler(request, *args, **kwargs)

    return wrapper


class Router:
    def __init__(self):
        self.routes = {}
        self.hits = collections.Counter()

    def add_route(self, method, path, handler, middlewares=None):
        if middlewares is None:
            middlewares = []
        middlewares.append(require_auth)
        for middleware in reversed(middlewares):
            handler = middleware(handler)
        self.routes[(method.upper(), path)] = handler

    def dispatch(self, request):
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return 404, {"error": "not found"}
        return handler(request)


def count_hits(path, counters):
    counters[path] += 1
    return counters[path]


def build_admin_router(views):
    router = Router()
    for method, path, view in views:
        router.add_route(method, path, view)
    return router


def serve(router, request):
    count_hits(request.path, router.hits)
    return router.dispatch(request)
