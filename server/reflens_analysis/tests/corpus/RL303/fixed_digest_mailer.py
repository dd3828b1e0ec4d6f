"""Sends one e-mail with every error of the run when the process shuts down."""
import logging
import smtplib
from email.message import EmailMessage


class ShutdownDigestHandler(logging.Handler):
    """Keeps the formatted text of records; `logging.shutdown()` sends them in one e-mail."""

    def __init__(self, mailhost, recipients, limit=1000):
        super().__init__()
        self.mailhost = mailhost
        self.recipients = recipients
        self.limit = limit
        self.texts = []

    def emit(self, record):
        if len(self.texts) < self.limit:
            self.texts.append(self.format(record))

    def flush(self):
        self.acquire()
        try:
            if not self.texts:
                return
            message = EmailMessage()
            message["Subject"] = f"{len(self.texts)} errors in this run"
            message["To"] = ", ".join(self.recipients)
            message.set_content("\n\n".join(self.texts))
            with smtplib.SMTP(self.mailhost) as smtp:
                smtp.send_message(message)
            self.texts.clear()
        finally:
            self.release()


def install(mailhost, recipients):
    handler = ShutdownDigestHandler(mailhost, recipients)
    handler.setLevel(logging.ERROR)
    logging.getLogger().addHandler(handler)
    return handler
