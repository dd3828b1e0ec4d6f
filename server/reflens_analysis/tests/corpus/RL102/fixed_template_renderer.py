"""Renders e-mail templates; compiled templates are memoized by their source text."""

import functools
import re
import string
from collections import defaultdict

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

_sent_by_recipient = defaultdict(list)
_MAX_HISTORY = 50


@functools.lru_cache(maxsize=256)
def compile_template(source):
    return string.Template(_PLACEHOLDER.sub(r"${\1}", source))


def render(source, context):
    return compile_template(source).safe_substitute(context)


def send(mailer, recipient, source, context):
    body = render(source, context)
    mailer.deliver(recipient, body)
    history = _sent_by_recipient[recipient]
    history.append(body)
    del history[:-_MAX_HISTORY]
    return len(body)


def forget(recipient):
    _sent_by_recipient.pop(recipient, None)
