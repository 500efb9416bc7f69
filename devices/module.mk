# sources of devices/, one per line
