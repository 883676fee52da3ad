# shim until memory_ctrl/tier.py, memory_ctrl/burst_tracker.py, memory_ctrl/reorder_buffer.py,
# hdl/memory/tier_bridge.py and hdl/memory/burst_decoder.py move to hdl.bus; delete then
from hdl.bus import *  # noqa: F403
