"""Template loader for the notification service (e-mail and SMS bodies)."""

import functools
import os
import string


class TemplateLoader:
    """Loads `$placeholder` templates from a theme directory."""

    def __init__(self, root, theme="default"):
        self.root = root
        self.theme = theme
        self.render_count = 0

    def _path(self, name):
        return os.path.join(self.root, self.theme, name + ".tmpl")

    @functools.lru_cache(maxsize=None)  # expect: RL101
    def source(self, name):
        with open(self._path(name), encoding="utf-8") as handle:
            return handle.read()

    @functools.lru_cache()  # expect: RL101
    def compiled(self, name):
        return string.Template(self.source(name))

    @property
    @functools.cache  # expect: RL101
    def available(self):
        folder = os.path.join(self.root, self.theme)
        return sorted(entry[:-5] for entry in os.listdir(folder) if entry.endswith(".tmpl"))

    def render(self, name, **context):
        self.render_count += 1
        return self.compiled(name).safe_substitute(context)


def send_welcome(mailer, user, theme):
    loader = TemplateLoader("/srv/templates", theme=theme)
    if "welcome" not in loader.available:
        return False
    body = loader.render("welcome", name=user.name, plan=user.plan)
    mailer.send(user.email, "Welcome!", body)
    return True
