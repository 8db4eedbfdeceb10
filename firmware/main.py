# main.py: runs after boot.py on a hard reset (never after a soft reset from the raw REPL).
# Counts the boot for the safe-mode guard, lets the port build the board, runs the app.
try:
    import boot
except ImportError:
    boot = None

safe = boot.enter() if boot else None
try:
    import board
    from cocoon import app
except ImportError as e:
    # A board with MicroPython but no firmware yet: say what to do instead of a bare traceback.
    print("cocoon: no firmware to run (%s): flash it with `cocoon flash --port PORT`" % e)
else:
    app.run(
        board.build(),
        safe=safe,
        healthy=boot.good if boot else None,
        boots=boot.count() if boot else 0,
    )
