"""The virtual board's REPL and life cycle, run by the MicroPython unix port.

    micropython firmware/ports/sim/supervisor.py --fs DIR --ctl 5 --ack 6 [--mode raw] ...
    (started, and restarted at every reset, by `cocoon sim`: host/cocoon_host/sim.py)

It makes the unix port answer on stdin/stdout the way MicroPython on an ESP32 answers on its USB
serial (shared/runtime/pyexec.c, shared/readline/readline.c, ports/esp32/main.c):
- before anything else, it imports the sim modules (board, clock, machine, radio, the chips and the
  scenario) and builds the hardware, then mounts the board's folder over `/` (os.VfsPosix), sets
  sys.path like the ESP32 (['', '.frozen', '/lib']), and installs the stand-ins for `board`,
  `machine`, `time`/`utime` and `micropython` in sys.modules;
- boot: runs /boot.py, then /main.py unless the REPL is raw (a soft reset from the raw REPL) or
  boot.py failed, exactly as the ESP32's main loop does; then the REPL;
- friendly REPL: banner, `>>> `, line editing, history, auto-indent, tab completion, continuation
  lines, Ctrl-A raw, Ctrl-B banner, Ctrl-C, Ctrl-D soft reset, Ctrl-E paste mode;
- raw REPL: `OK`, `<stdout>\\x04<stderr>\\x04>`, raw-paste with flow control (window 128 bytes),
  tracebacks that look like MicroPython's (this file's own frames are left out);
- text output is cooked like the ESP32's (`print`, the REPL: LF -> CRLF).
A reset of any kind ends this process: the runner starts a new one (see hostctl.py).
"""

import builtins
import io
import os
import select
import sys

FRIENDLY = "friendly"
RAW = "raw"
SOFT = "soft"
OK_EXIT = 0
ERROR_EXIT = 1
FORCED_EXIT = 0x100  # SystemExit: the ESP32 soft-resets
PS1 = ">>> "
PS2 = "... "
RAW_BANNER = "raw REPL; CTRL-B to exit\r\n"
RAW_PASTE_WINDOW = 128  # half of MICROPY_REPL_STDIN_BUFFER_MAX (256), as pyexec.c offers it
HISTORY = 8  # MICROPY_READLINE_HISTORY_SIZE
IDLE_POLL_MS = 200  # while waiting for input, look at the clock this often (--until, watchdog)


def _options(argv):
    opt = {}
    i = 0
    while i + 1 < len(argv):
        if argv[i].startswith("--"):
            opt[argv[i][2:]] = argv[i + 1]
        i += 2
    return opt


OPT = _options(sys.argv[1:])
SELF = sys.argv[0]
HERE = SELF[: SELF.rfind("/")] if "/" in SELF else "."
OPT["here"] = HERE
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import hostctl  # noqa: E402 - needs the path above

# ---------------------------------------------------------------- the serial line
_out = sys.stdout.buffer
_read = sys.stdin.buffer.readinto  # type: ignore[union-attr]  # MicroPython streams have it
_one = bytearray(1)
_poll = select.poll()
_poll.register(sys.stdin, select.POLLIN)
_clock = None


class _Gone(Exception):
    """stdin closed: the runner is gone, so is the board."""


def tx(s):
    _out.write(s)


def tx_cooked(s):
    if isinstance(s, str):
        s = s.replace("\n", "\r\n")
    else:
        s = bytes(s).replace(b"\n", b"\r\n")
    _out.write(s)


def getc():
    """One byte from the host; blocks, but looks at the clock (--until, watchdog) meanwhile."""
    while True:
        ready = False
        for _ in _poll.ipoll(IDLE_POLL_MS):
            ready = True
        if ready:
            if _read(_one, 1) != 1:
                raise _Gone()
            return _one[0]
        if _clock is not None:
            _clock.world_us()


class _CookedStdout(io.IOBase):
    def write(self, s):
        tx_cooked(s)
        return len(s)


_cooked = _CookedStdout()
_unix_print = builtins.print


def _print(*args, sep=" ", end="\n", file=None):
    if file is None or file is sys.stdout or file is sys.stderr:
        file = _cooked
    _unix_print(*args, sep=sep, end=end, file=file)


def _repl_print(obj):
    if obj is not None:
        tx_cooked(repr(obj) + "\n")
        builtins._ = obj


def _input(prompt=""):
    while True:
        ret, text = READLINE.read(prompt, "", history=False)
        if ret == 0:
            return text
        if ret == 3:
            raise KeyboardInterrupt()
        if ret == 4:
            raise EOFError()


# ---------------------------------------------------------------- running code
G = {"__name__": "__main__"}


_STAND_INS = (
    "supervisor.py",
    "hostctl.py",
    "vclock.py",
    "vmachine.py",
    "vos.py",
    "vmicropython.py",
)


def _hidden(filename):
    return filename.startswith(HERE + "/") and filename[len(HERE) + 1 :] in _STAND_INS


def print_exception(e):
    buf = io.StringIO()
    sys.print_exception(e, buf)
    keep = []
    for line in buf.getvalue().split("\n"):
        if line.startswith('  File "') and _hidden(line[8:].split('"')[0]):
            continue  # the REPL's own frames, and the stand-ins for C modules: a board has none
        keep.append(line)
    tx_cooked("\n".join(keep))


def run_code(src, filename, mode, eof=False):
    """Compile and run like pyexec's parse_compile_execute; returns OK, ERROR or FORCED_EXIT."""
    err = None
    try:
        hostctl.run()  # inside the try: a Ctrl-C may land the moment the runner reads this
        if not isinstance(src, str):
            src = str(src, "utf8")
        exec(compile(src, filename, mode), G)
    except BaseException as e:  # noqa: B036 - KeyboardInterrupt and SystemExit too, as pyexec
        err = e
    hostctl.idle()
    if eof:
        tx(b"\x04")
    ret = OK_EXIT
    if err is not None:
        if isinstance(err, SystemExit):
            ret = FORCED_EXIT
        else:
            print_exception(err)
            ret = ERROR_EXIT
    if eof:
        tx(b"\x04")
    return ret


def run_file(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return OK_EXIT  # no file runs like an empty one
    G["__file__"] = name
    return run_code(src, name, "exec")


def soft_reset(mode):
    tx("MPY: soft reboot\r\n")
    hostctl.reset("soft", mode, _clock.world_us() if _clock else 0)


# ---------------------------------------------------------------- line editing (readline.c)
def continue_with_input(s):
    """py/repl.c mp_repl_continue_with_input: does this input need another line?"""
    if not s:
        return False
    compound = s[0] == "@"
    for word in ("if", "while", "for", "try", "with", "def", "class", "async"):
        if s.startswith(word) and (len(s) == len(word) or not _is_ident(s[len(word)])):
            compound = True
    paren = brack = brace = 0
    quote = 0  # 1 ', 2 ", 3 ''', 4 """
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "'":
            if quote in (0, 3) and s[i + 1 : i + 3] == "''":
                i += 2
                quote = 3 - quote
            elif quote in (0, 1):
                quote = 1 - quote
        elif ch == '"':
            if quote in (0, 4) and s[i + 1 : i + 3] == '""':
                i += 2
                quote = 4 - quote
            elif quote in (0, 2):
                quote = 2 - quote
        elif ch == "\\" and i + 1 < n and s[i + 1] in "'\"\\":
            if quote:
                i += 1
        elif quote == 0:
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren -= 1
            elif ch == "[":
                brack += 1
            elif ch == "]":
                brack -= 1
            elif ch == "{":
                brace += 1
            elif ch == "}":
                brace -= 1
        i += 1
    if quote in (3, 4):
        return True
    if (paren > 0 or brack > 0 or brace > 0) and quote == 0:
        return True
    if s[-1] == "\\":
        return True
    return compound and s[-1] != "\n"


def _is_ident(ch):
    return ch.isalpha() or ch.isdigit() or ch == "_"


def auto_indent(prev):
    """readline.c readline_auto_indent: a continuation line's indent, from the lines before."""
    if len(prev) > 1 and prev[-1] == "\n":
        i = len(prev) - 1
        while i > 0 and prev[i - 1] != "\n":
            i -= 1
        j = i
        while j < len(prev) and prev[j] == " ":
            j += 1
        if i > 0 and j + 1 == len(prev):
            # the previous line is all spaces: if the one before is too, stop indenting
            k = i - 1
            while k > 0:
                if prev[k - 1] == "\n":
                    return ""
                if prev[k - 1] != " ":
                    break
                k -= 1
        n = (j - i) // 4
        if prev[-2] == ":":
            n += 1
        return "    " * n
    return ""


def _move_back(n):
    if n <= 0:
        return
    tx("\b" * n if n <= 4 else "\x1b[%dD" % n)


def complete(text):
    """py/repl.c mp_repl_autocomplete, over the REPL's globals: (insert, listing or None)."""
    i = len(text)
    while i > 0 and (_is_ident(text[i - 1]) or text[i - 1] == "."):
        i -= 1
    words = text[i:].split(".")
    obj = None
    for w in words[:-1]:
        try:
            if obj is None:
                obj = G[w] if w in G else getattr(builtins, w)
            else:
                obj = getattr(obj, w)
        except Exception:
            return "", None
    part = words[-1]
    names = list(G) + dir(builtins) if obj is None else dir(obj)
    found = sorted({n for n in names if n.startswith(part)})
    if not found:
        if i == 0 and "import ".startswith(part):
            return "import "[len(part) :], None
        return "", None
    common = found[0]
    for n in found[1:]:
        k = 0
        while k < len(common) and k < len(n) and common[k] == n[k]:
            k += 1
        common = common[:k]
    if len(found) == 1 or len(common) > len(part):
        return common[len(part) :], None
    # many matches: in 16-character slots, 64 per line, like the C version
    out = []
    line_len = 64
    for n in found:
        gap = (line_len + 15) // 16 * 16 - line_len
        if gap < 2:
            gap += 16
        if line_len + gap + len(n) <= 64:
            out.append(" " * gap + n)
            line_len += gap + len(n)
        else:
            out.append("\r\n" + n)
            line_len = len(n)
    return "", "".join(out) + "\r\n"


class Readline:
    def __init__(self):
        self.hist = []

    def push(self, line):
        if line and (not self.hist or self.hist[0] != line):
            self.hist.insert(0, line)
            del self.hist[HISTORY:]

    def read(self, prompt, prev, history=True):
        """One line. Returns (0, prev + line) on Enter, or (control char, prev)."""
        tx(prompt)
        line = auto_indent(prev)
        tx(line)
        pos = len(line)
        just_indented = bool(line)
        hist_cur = -1
        esc = 0
        digit = ""
        while True:
            c = getc()
            back = fwd = 0
            redraw = False
            last_len = len(line)
            act = None
            indented = False
            if esc == 0:
                if 1 <= c <= 5 and not line:
                    return c, prev
                if c == 1:
                    act = "home"
                elif c == 2:
                    act = "left"
                elif c == 3:
                    return c, prev
                elif c == 4:
                    act = "delete"
                elif c == 5:
                    act = "end"
                elif c == 6:
                    act = "right"
                elif c == 11:  # Ctrl-K: kill to the end
                    line = line[:pos]
                    redraw = True
                elif c == 14:
                    act = "down"
                elif c == 16:
                    act = "up"
                elif c == 21:  # Ctrl-U: kill to the start
                    line = line[pos:]
                    back = pos
                    redraw = True
                elif c == 13:
                    tx("\r\n")
                    if history:
                        self.push(line)
                    return 0, prev + line
                elif c == 27:
                    esc = 1
                elif c in (8, 127):
                    if pos > 0:
                        n = 1
                        if line[:pos] == " " * pos and pos >= 4:
                            n = 4  # undo one auto-indent step
                        line = line[: pos - n] + line[pos:]
                        back = n
                        redraw = True
                elif just_indented and c in (9, 32):
                    if c == 32:  # a space after an auto-indent takes the indent back by 3
                        line = line[:-3]
                        back = 3
                    indented = True
                elif c == 9:
                    before = line[pos - 1] if pos else (prev[-1] if prev else "")
                    if before in (" ", "\t", "\n"):
                        add, listing = "    ", None
                    else:
                        add, listing = complete(line[:pos])
                    if listing:
                        tx(listing)
                        tx(prompt)
                        tx(line[:pos])
                        redraw = True
                    elif add:
                        line = line[:pos] + add + line[pos:]
                        redraw = True
                        fwd = len(add)
                elif 32 <= c <= 126:
                    line = line[:pos] + chr(c) + line[pos:]
                    redraw = True
                    fwd = 1
            elif esc == 1:
                esc = 2 if c == 91 else 3 if c == 79 else 0  # '[' or 'O'
            elif esc == 2:
                esc = 0
                if 48 <= c <= 57:
                    esc = 4
                    digit = chr(c)
                else:
                    act = {
                        65: "up",
                        66: "down",
                        67: "right",
                        68: "left",
                        72: "home",
                        70: "end",
                    }.get(c)
            elif esc == 4:
                esc = 0
                if c == 126:  # '~'
                    act = {"1": "home", "7": "home", "4": "end", "8": "end", "3": "delete"}.get(
                        digit
                    )
            elif esc == 3:
                esc = 0
                act = {72: "home", 70: "end"}.get(c)
            if not indented and esc == 0:
                just_indented = False

            if act == "home":
                back = pos
            elif act == "end":
                fwd = len(line) - pos
            elif act == "left":
                back = 1 if pos > 0 else 0
            elif act == "right":
                fwd = 1 if pos < len(line) else 0
            elif act == "delete":
                if pos < len(line):
                    line = line[:pos] + line[pos + 1 :]
                    redraw = True
            elif act == "up" and hist_cur + 1 < len(self.hist):
                hist_cur += 1
                back = pos
                line = self.hist[hist_cur]
                redraw = True
                fwd = len(line)
            elif act == "down" and hist_cur >= 0:
                hist_cur -= 1
                back = pos
                line = self.hist[hist_cur] if hist_cur >= 0 else ""
                redraw = True
                fwd = len(line)

            # redraw, efficiently (readline.c)
            if back > 0:
                _move_back(back)
                pos -= back
            if redraw:
                if len(line) < last_len:
                    tx("\x1b[K")
                tx(line[pos:])
                _move_back(len(line) - (pos + fwd))
                pos += fwd
            elif fwd > 0:
                tx(line[pos : pos + fwd])
                pos += fwd


READLINE = Readline()


# ---------------------------------------------------------------- the two REPLs (pyexec.c)
def banner():
    v = sys.implementation.version
    version = "%d.%d.%d" % (v[0], v[1], v[2])
    if len(v) > 3 and v[3]:
        version += "-" + v[3]
    date = sys.version.split(" on ")[-1] if " on " in sys.version else ""
    tx("MicroPython v%s on %s; Chrono-Cocoon virtual board with unix port\r\n" % (version, date))
    tx('Type "help()" for more information.\r\n')


def paste_mode():
    tx("\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
    buf = bytearray()
    while True:
        c = getc()
        if c == 3:
            tx("\r\n")
            return None
        if c == 4:
            tx("\r\n")
            return buf
        buf.append(c)
        if c == 13:
            tx("\r\n=== ")
        else:
            _one_out[0] = c
            tx(_one_out)


_one_out = bytearray(1)


def friendly_once():
    ret, text = READLINE.read(PS1, "")
    mode = "single"
    if ret == 1:
        tx("\r\n")
        return RAW
    if ret == 2:
        tx("\r\n")
        banner()
        return None
    if ret == 3:
        tx("\r\n")
        return None
    if ret == 4:
        tx("\r\n")
        return SOFT
    if ret == 5:
        text = paste_mode()
        if text is None:
            return None
        mode = "exec"
    elif not text:
        return None
    else:
        while continue_with_input(text):
            text += "\n"
            ret, text = READLINE.read(PS2, text)
            if ret == 3:
                tx("\r\n")
                return None
            if ret == 4:
                break
    if run_code(text, "<stdin>", mode) & FORCED_EXIT:
        return SOFT
    return None


def friendly():
    banner()
    while True:
        try:
            nxt = friendly_once()
        except KeyboardInterrupt:
            hostctl.idle()  # a late Ctrl-C: take it as one typed at the prompt
            tx("\r\n")
            continue
        if nxt is not None:
            return nxt


def raw_paste(command):
    if command != 65:  # 'A'
        tx(b"R\x00")
        return OK_EXIT
    tx(b"R\x01")
    tx(bytes((RAW_PASTE_WINDOW & 0xFF, RAW_PASTE_WINDOW >> 8, 1)))
    buf = bytearray()
    remain = RAW_PASTE_WINDOW
    while True:
        # The host is sending: a plain blocking read, one system call a byte instead of two.
        if _read(_one, 1) != 1:
            raise _Gone()
        c = _one[0]
        if c == 3 or c == 4:
            tx(b"\x04")  # end of data, acknowledged
            if c == 3:
                tx(b"\x04")
                print_exception(KeyboardInterrupt())
                tx(b"\x04")
                return ERROR_EXIT
            break
        buf.append(c)
        remain -= 1
        if remain == 0:
            tx(b"\x01")  # the host may send another window
            remain = RAW_PASTE_WINDOW
    return run_code(buf, "<stdin>", "exec", eof=True)


def raw():
    tx(RAW_BANNER)
    while True:
        line = bytearray()
        tx(">")
        while True:
            try:
                c = getc()
            except KeyboardInterrupt:
                hostctl.idle()
                c = 3
            if c == 1:
                if len(line) == 2 and line[0] == 5:
                    if raw_paste(line[1]) & FORCED_EXIT:
                        return SOFT
                    line = bytearray()
                    tx(">")
                    continue
                tx(RAW_BANNER)
                line = bytearray()
                tx(">")
            elif c == 2:
                tx("\r\n")
                return FRIENDLY
            elif c == 3:
                line = bytearray()
            elif c == 4:
                break
            else:
                line.append(c)
        tx("OK")
        if not line:
            tx("\r\n")
            return SOFT
        if run_code(line, "<stdin>", "exec", eof=True) & FORCED_EXIT:
            return SOFT


# ---------------------------------------------------------------- start-up
def setup():
    global _clock
    import board
    import vclock
    import vmachine
    import vmicropython
    import vos

    board.configure(OPT)
    _clock = vclock._clock
    sys.modules["board"] = board
    sys.modules["machine"] = vmachine
    sys.modules["time"] = vclock
    sys.modules["utime"] = vclock
    sys.modules["micropython"] = vmicropython
    sys.modules["os"] = vos
    builtins.print = _print
    builtins.input = _input
    builtins.__repl_print__ = _repl_print
    # From here on `/` is the board's filesystem: nothing of the repository is reachable.
    os.umount("/")
    os.mount(os.VfsPosix(OPT["fs"]), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]


def main():
    hostctl.open(int(OPT["ctl"]), int(OPT["ack"]))
    try:
        setup()
    except ValueError as e:  # a bad option or scenario: the runner prints it as one line
        hostctl.fatal(str(e))
    except Exception as e:  # a bug in a sim part: name it
        hostctl.fatal("%s: %s" % (type(e).__name__, e))
    hostctl.send("ready")
    mode = OPT.get("mode", FRIENDLY)
    try:
        try:
            ret = run_file("boot.py")
            if ret == OK_EXIT and mode == FRIENDLY:
                ret = run_file("main.py")
        except KeyboardInterrupt:
            # A Ctrl-C sent while boot.py ran can land between two files, outside run_code's
            # try: it stops the start-up, as on the ESP32, and the REPL takes over.
            hostctl.idle()
            ret = ERROR_EXIT
        if ret & FORCED_EXIT:
            soft_reset(mode)
        hostctl.idle()  # the REPL reads from here on (the runner holds input until it knows)
        while True:
            nxt = raw() if mode == RAW else friendly()
            if nxt == SOFT:
                soft_reset(mode)
            mode = nxt
    except _Gone:
        return


if __name__ == "__main__":
    main()
