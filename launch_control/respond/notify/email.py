"""Email over SMTP (stdlib ``smtplib``): plain-text messages to a fixed list of recipients.

Settings: ``smtp_host_env`` (or ``smtp_host``) — ``host`` or ``host:port``; ``smtp_port``
(default 25, or the port in the host value); ``from``; ``to`` (list); ``starttls`` (bool);
``username_env`` / ``password_env`` for AUTH; ``audience`` (default ``customers``).
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar

from pydantic import Field

from launch_control.plan.settings_types import EnvName, validate_settings
from launch_control.respond.notify.base import ChannelSettings, EndpointChannel, Message, NotifyError, setting_from_env


class EmailChannel(EndpointChannel):
    type, endpoint, default_audience = "email", "smtp_host", "customers"

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.sender = str(settings.get("from") or "")
        to = settings.get("to") or []
        self.to = [to] if isinstance(to, str) else [str(t) for t in to]
        if not self.sender:
            raise ValueError(f"email channel {name!r} needs 'from' (the sender address)")
        if not self.to:
            raise ValueError(f"email channel {name!r} needs 'to' (a list of recipient addresses)")
        self.port = int(settings.get("smtp_port", 25))
        self.starttls = bool(settings.get("starttls", False))

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail["X-Launch-Control-Kind"] = message.kind
        if message.incident_id is not None:
            mail["X-Launch-Control-Incident"] = str(message.incident_id)
        mail.set_content(message.text)
        return mail

    def send(self, message: Message, timeout: float) -> str:
        host = setting_from_env(self.settings, "smtp_host", self.name)
        port = self.port
        if ":" in host:
            host, _, port_text = host.rpartition(":")
            port = int(port_text)
        mail = self.compose(message)
        try:
            with smtplib.SMTP(host, port, timeout=timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                user_env, pass_env = self.settings.get("username_env"), self.settings.get("password_env")
                if user_env and pass_env and os.environ.get(str(user_env)):
                    smtp.login(os.environ[str(user_env)], os.environ.get(str(pass_env), ""))
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(f"{self.name}: {host}:{port} refused the recipients: {exc}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            retryable = exc.smtp_code >= 400 and exc.smtp_code < 500  # 4xx is "try again later"
            raise NotifyError(f"{self.name}: {host}:{port} said {exc.smtp_code} {exc.smtp_error!r}",
                              retryable=retryable) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"{self.name}: cannot send through {host}:{port}: {exc}") from exc
        return mail.as_string()



class Settings(ChannelSettings):
    hints: ClassVar[dict[str, str]] = {
        "from": "the email channel needs 'from' (the sender address)",
        "to": "the email channel needs 'to' (a list of recipient addresses)",
    }
    sender: str = Field(alias="from", min_length=1)
    to: str | list[str]
    smtp_host: str | None = None
    smtp_host_env: EnvName | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username_env: EnvName | None = None
    password_env: EnvName | None = None


def build(settings: dict[str, Any], *, channel: str = "email", **_: Any) -> EmailChannel:
    validate_settings(Settings, settings, "email channel")
    return EmailChannel(channel, settings)
