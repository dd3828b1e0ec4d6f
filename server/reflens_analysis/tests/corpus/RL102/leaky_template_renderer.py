"""Renders e-mail templates; compiled templates are memoized by their source text."""

import re
import string

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class CompiledTemplate:
    def __init__(self, source):
        self.source = source
        self.template = string.Template(_PLACEHOLDER.sub(r"${\1}", source))

    def render(self, context):
        return self.template.safe_substitute(context)


_compiled = {}  # expect: RL102
_sent_log = []  # expect: RL102


def compile_template(source):
    template = _compiled.get(source)
    if template is None:
        template = CompiledTemplate(source)
        _compiled[source] = template
    return template


def send(mailer, recipient, source, context):
    body = compile_template(source).render(context)
    mailer.deliver(recipient, body)
    _sent_log.append((recipient, body))
    return len(body)
