# sources of bootloader/, one per line
