# main.py: runs after boot.py on a hard reset (never after a soft reset from the raw REPL).
# Counts the boot for the safe-mode guard, lets the port build the board, runs the app.
safe = None
healthy = None
boots = 0
try:
    import boot

    safe = boot.enter()
    healthy = boot.good
    boots = boot.count()
except ImportError:
    pass  # no boot.py (firmware copied by hand): no guard

try:
    import board
    from cocoon import app
except ImportError as e:
    # A board with MicroPython but no firmware yet: say what to do instead of a bare traceback.
    print("cocoon: no firmware to run (%s): flash it with `cocoon flash --port PORT`" % e)
else:
    app.run(board.build(), safe=safe, healthy=healthy, boots=boots)
