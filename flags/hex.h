/* Hexadecimal digits, as MAC addresses, %XX escapes and sha256 sums spell them. */
#ifndef VZKIT_FLAGS_HEX_H
#define VZKIT_FLAGS_HEX_H

/* The value of one hex digit (either case), or -1. */
static inline int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
