# sources of cmd/, one per line
