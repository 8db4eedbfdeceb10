# Runs on the MicroPython unix port (not CPython): the firmware's own Stager over epoch features.
# Used by `cocoon eval stages`, which writes the jobs and starts:
#     MICROPYPATH=<firmware>:<model dir> micropython stages_runner.py JOBS.jsonl
# Each job line: {"name", "model" (module name), "count_q8", "hr_q12", "epoch_n"} (lists of ints).
# Each output line: {"name", "stage", "wake_lo"} (lists of ints), then a last line "DONE <jobs>".
import json
import sys

from cocoon.core.stager import Stager


def model_module(name):
    __import__(name)
    return sys.modules[name]


def main(path):
    stagers = {}
    done = 0
    with open(path) as f:
        for line in f:
            job = json.loads(line)
            name = job["model"]
            st = stagers.get(name)
            if st is None:
                st = stagers[name] = Stager(model_module(name))
            st.reset()
            stages = []
            wake_lo = []
            count, hr, epoch_n = job["count_q8"], job["hr_q12"], job["epoch_n"]
            for i in range(len(count)):
                stages.append(st.update(count[i], hr[i], epoch_n[i]))
                wake_lo.append(st.wake_lo_q10)
            print(json.dumps({"name": job["name"], "stage": stages, "wake_lo": wake_lo}))
            done += 1
    print("DONE " + str(done))


main(sys.argv[1])
