# The safe-mode guard in firmware/boot.py, on both interpreters.
import os
import sys

import boot


def scratch():
    here = __file__[: __file__.rfind("/")]
    return here + "/_boots_" + sys.implementation.name + ".tmp"


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def test_nine_failed_boots_run_normally_the_tenth_is_safe():
    path = scratch()
    remove(path)
    try:
        for i in range(10):
            assert boot.enter(path) is None, i
            assert boot.count(path) == i + 1
        why = boot.enter(path)
        assert why is not None and why.startswith("10 boots in a row")
        # Safe mode clears the count: the next reset tries the firmware again.
        assert boot.count(path) == 0
        assert boot.enter(path) is None
    finally:
        remove(path)


def test_a_good_boot_clears_the_count():
    path = scratch()
    remove(path)
    try:
        for _ in range(9):
            boot.enter(path)
        boot.good(path)
        assert boot.count(path) == 0
        for _ in range(9):
            assert boot.enter(path) is None
    finally:
        remove(path)


def test_a_damaged_counter_counts_as_zero():
    path = scratch()
    try:
        with open(path, "w") as f:
            f.write("garbage")
        assert boot.count(path) == 0
        assert boot.enter(path) is None
        assert boot.count(path) == 1
    finally:
        remove(path)


def test_no_fw_folder_means_no_guard_and_no_crash():
    assert boot.enter("/nonexistent-folder/boots") is None
    assert boot.count("/nonexistent-folder/boots") == 0
    assert boot.active_slot("/nonexistent-folder") is None
