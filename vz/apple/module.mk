# sources of vz/apple/, one per line
