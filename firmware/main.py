# main.py: runs after boot.py on a hard reset. The port's `board` module builds the hardware.
import board
from cocoon import app

app.run(board.build())
