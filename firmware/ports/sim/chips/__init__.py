"""Register-level models of the virtual board's sensor chips (MAX30102, MPU-6050).

    chip = max30102.MAX30102(scenario); chip.advance(now_us); chip.read_into(0xFF, buf)

Each model holds the chip's registers and FIFO, fills the FIFO from a scenario at the rate its
registers configure, as time (absolute virtual microseconds, from the simulated I2C bus) passes.
"""
