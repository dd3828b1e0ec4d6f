"""Renders e-mail templates; compiled templates are memoized by their source text."""

import re
import string
from collections import defaultdict

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

_compiled = {}  # expect: RL102
_sent_by_recipient = defaultdict(list)  # expect: RL102


def compile_template(source):
    template = _compiled.get(source)
    if template is None:
        template = string.Template(_PLACEHOLDER.sub(r"${\1}", source))
        _compiled[source] = template
    return template


def render(source, context):
    return compile_template(source).safe_substitute(context)


def send(mailer, recipient, source, context):
    body = render(source, context)
    mailer.deliver(recipient, body)
    _sent_by_recipient[recipient].append(body)
    return len(body)
