"""Sends one e-mail with every error of the run when the process shuts down."""
import logging
import logging.handlers
import smtplib
from email.message import EmailMessage


class ShutdownDigestHandler(logging.handlers.BufferingHandler):
    """Buffers records; `logging.shutdown()` flushes them into a single e-mail."""

    def __init__(self, mailhost, recipients):
        super().__init__(capacity=0)
        self.mailhost = mailhost
        self.recipients = recipients

    def shouldFlush(self, record):  # expect: RL303
        return False

    def flush(self):
        self.acquire()
        try:
            if not self.buffer:
                return
            body = "\n\n".join(self.format(record) for record in self.buffer)
            message = EmailMessage()
            message["Subject"] = f"{len(self.buffer)} errors in this run"
            message["To"] = ", ".join(self.recipients)
            message.set_content(body)
            with smtplib.SMTP(self.mailhost) as smtp:
                smtp.send_message(message)
            self.buffer.clear()
        finally:
            self.release()


def install(mailhost, recipients):
    handler = ShutdownDigestHandler(mailhost, recipients)
    handler.setLevel(logging.ERROR)
    logging.getLogger().addHandler(handler)
    return handler
