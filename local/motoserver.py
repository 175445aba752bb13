"""moto in server mode, as its own process: `python -m local.motoserver PORT`.

moto is not concurrency-safe, so DynamoDB and DynamoDB Streams requests run one at a time (a conditional
transaction is then atomic, as in DynamoDB); SQS stays concurrent so that long polls do not block the tables.
"""
import logging
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


class SerialDynamoDB:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                return list(self.app(environ, start_response))  # produce the whole body inside the lock
        return self.app(environ, start_response)


def main() -> None:
    from local import moto_patches
    moto_patches.apply(trim_streams=5000)
    port = int(sys.argv[1])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
    server = make_server("127.0.0.1", port, SerialDynamoDB(DomainDispatcherApplication(create_backend_app)),
                         threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stack decides when to stop
    print(f"moto listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
