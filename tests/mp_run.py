# Runs one firmware test function on the MicroPython unix port.
# usage: micropython tests/mp_run.py FIRMWARE_DIR TEST_FILE FUNC
import sys

firmware, test_file, func = sys.argv[1], sys.argv[2], sys.argv[3]
slash = test_file.rfind("/")
test_dir, mod_name = test_file[:slash], test_file[slash + 1 : -3]
tests_firmware = test_file[: test_file.find("/tests/firmware") + len("/tests/firmware")]
sys.path[:] = [test_dir, tests_firmware, firmware, ".frozen"]
mod = __import__(mod_name)
getattr(mod, func)()
print("MP-TEST-PASS")
