"""Renders e-mail templates; compiled templates are memoized by their source text."""

import collections
import re
import string
import weakref

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class CompiledTemplate:
    def __init__(self, source):
        self.source = source
        self.template = string.Template(_PLACEHOLDER.sub(r"${\1}", source))

    def render(self, context):
        return self.template.safe_substitute(context)


_compiled = weakref.WeakValueDictionary()
_sent_log = collections.deque(maxlen=500)


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
