"""CPython stand-in for MicroPython's `micropython` module, for running firmware under pytest.

Only on sys.path under CPython (see tests/conftest.py). Emitter decorators are identities: code
marked `@micropython.viper` must therefore also be valid Python, or the module must keep a plain
twin for CPython.
"""


def const(x):
    return x


def native(f):
    return f


def viper(f):
    return f


def heap_lock():
    return 0


def heap_unlock():
    return 0


def mem_info(*args):
    return None


def kbd_intr(ch):
    return None


def schedule(f, arg):
    f(arg)
    return True
