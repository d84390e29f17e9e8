"""The moto emulator (DynamoDB + SQS on one port), serving one request at a time.

DynamoDB applies every conditional write and every transaction atomically. moto's own server
answers requests on parallel threads with no lock between checking a condition and writing, so
two racing transactions can both pass `stock >= :q` and oversell (seen here: 53 orders for 50
units). Serving requests one by one gives back DynamoDB's guarantee, which the stock tests need.
HTTP/1.0 (werkzeug's default without threads) closes each connection, so no client can hold the
server between requests.

Usage: python emulator.py -H 127.0.0.1 -p PORT
"""

import argparse
import os
import signal
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
