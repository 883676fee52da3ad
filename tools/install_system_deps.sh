#!/usr/bin/env bash
# System libraries the Python wheels do not carry. Today only lz4's header,
# which Verilator's FST waveform writer compiles against; without it the
# testbench falls back to VCD waveforms, so a failure here is not fatal.
set -u
if [ -e /usr/include/lz4.h ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing liblz4-dev (FST waveforms)"
    (apt-get install -y -q liblz4-dev >/dev/null 2>&1 ||
        (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q liblz4-dev >/dev/null 2>&1)) ||
        echo "warning: could not install liblz4-dev; waveforms will be VCD instead of FST"
else
    echo "note: liblz4-dev is not installed; waveforms will be VCD instead of FST"
fi
exit 0
