"""Host port: AXI4-Lite register file that queues commands for the AGCU."""
