"""`make ledger-check`: verify the ledger invariants on the running local stack's database.

Reads the stack's environment from STACK_INFO_PATH (.local/stack.json, written by `make run`), then runs
chalicelib.ledger.check.verify() against it. Exit 0 when the ledger is consistent, 1 when not, 2 when it
cannot run.
"""
import json
import os
import sys

from local.stack import DEFAULT_INFO


def main() -> int:
    path = os.environ.get("STACK_INFO_PATH", DEFAULT_INFO)
    try:
        with open(path) as f:
            info = json.load(f)
    except OSError:
        print(f"ledger-check: no running stack ({path} not found); start one with `make run`", file=sys.stderr)
        return 2
    # only the stack's own names and endpoints: a caller's table, queue or endpoint overrides (a shell or a test
    # process with its own MAIN_TABLE...) would otherwise point the check at another database
    for name in [k for k in os.environ if k == "TABLE_PREFIX" or k.startswith("AWS_ENDPOINT_URL")
                 or k.endswith(("_TABLE", "_QUEUE_URL", "_STREAM_ARN", "_ENDPOINT"))]:
        del os.environ[name]
    os.environ.update(info["env"])
    from chalicelib.storage import db
    db.configure()
    try:
        from chalicelib.ledger.check import verify
    except ImportError as e:
        print(f"ledger-check: chalicelib.ledger.check.verify is not available ({e})", file=sys.stderr)
        return 2
    try:
        result = verify()
    except Exception as e:  # most often: the stack that wrote stack.json is gone
        print(f"ledger-check: cannot read the ledger at {info['env'].get('DYNAMODB_ENDPOINT')}: {e}",
              file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
