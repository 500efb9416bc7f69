# sources of vz/qemu/, one per line
