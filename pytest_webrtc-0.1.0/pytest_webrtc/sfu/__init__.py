"""The SFU (and MCU) actors: servers that take part in a room as peers do."""
