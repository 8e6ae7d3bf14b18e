"""A real SMTP server for lineup-server's tests (aiosmtpd): listens on 127.0.0.1, port 0,
prints "PORT <n>" once it listens, then one JSON line per delivered message
({"to": [...], "subject": ..., "body": <decoded text>}) on stdout. Runs until stdin closes."""

import asyncio
import email
import email.policy
import json
import socket
import sys

from aiosmtpd.controller import Controller


class Record:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        line = {"to": envelope.rcpt_tos, "from": envelope.mail_from, "subject": str(msg["subject"]), "body": text}
        print(json.dumps(line, ensure_ascii=False), flush=True)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    controller = Controller(Record(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"PORT {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
