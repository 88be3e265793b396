import sys


def _hookflow_main():
    # argv: -c, script path, result fd, variable names (JSON), the step's args...
    import json

    path, fd, names = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    sys.argv = [path] + sys.argv[4:]
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    scope = {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__}
    try:
        exec(code, scope)
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    import datetime

    found = {}
    for name in names:
        if name not in scope:
            found[name] = {"missing": True}
            continue
        value = scope[name]
        kind = type(value).__name__
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value, allow_nan=False)
            found[name] = {"type": kind, "value": value}
        except (TypeError, ValueError) as e:
            found[name] = {"type": kind, "error": str(e)}
    sys.stdout.flush()
    with open(fd, "w", encoding="utf-8", closefd=True) as out:
        json.dump(found, out, allow_nan=False)


_hookflow_main()
