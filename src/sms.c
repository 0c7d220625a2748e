/*
 * sms: counts GSM-7 and UCS-2 segments so that templates can be checked
 * to fit one message.  The tables are those of 3GPP TS 23.038.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "promised/sms.h"

/* Non-ASCII characters of the GSM-7 default alphabet. */
static const uint32_t gsm_basic[] = {
	0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7,
	0x00D8, 0x00F8, 0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B,
	0x03A9, 0x03A0, 0x03A8, 0x03A3, 0x0398, 0x039E, 0x00C6, 0x00E6,
	0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6, 0x00D1, 0x00DC,
	0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

/* Characters of the extension table: an escape plus one septet each. */
static const uint32_t gsm_ext[] = {
	0x000C, '^', '{', '}', '\\', '[', ']', '~', '|', 0x20AC,
};

static int
in_table(const uint32_t *tab, size_t n, uint32_t cp)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tab[i] == cp)
			return 1;
	return 0;
}

/* Septets cp takes in GSM-7, or 0 when GSM-7 cannot carry it. */
static int
gsm_septets(uint32_t cp)
{
	if (in_table(gsm_ext, sizeof(gsm_ext) / sizeof(gsm_ext[0]), cp))
		return 2;
	if (cp == '\n' || cp == '\r')
		return 1;
	if (cp >= 0x20 && cp < 0x7F)
		return cp == '`' ? 0 : 1;
	return in_table(gsm_basic, sizeof(gsm_basic) / sizeof(gsm_basic[0]),
			cp) ? 1 : 0;
}

/* Decodes the character at *s, advancing it; -1 on malformed input. */
static int64_t
next_cp(const unsigned char **s)
{
	const unsigned char *p = *s;
	uint32_t cp;
	int n, k;

	if (p[0] < 0x80) { n = 0; cp = p[0]; }
	else if ((p[0] & 0xE0) == 0xC0) { n = 1; cp = p[0] & 0x1F; }
	else if ((p[0] & 0xF0) == 0xE0) { n = 2; cp = p[0] & 0x0F; }
	else if ((p[0] & 0xF8) == 0xF0) { n = 3; cp = p[0] & 0x07; }
	else return -1;
	for (k = 1; k <= n; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[k] & 0x3F);
	}
	if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
	    (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*s = p + n + 1;
	return cp;
}

int
sms_length(const char *utf8, int *ucs2)
{
	const unsigned char *s = (const unsigned char *)utf8;
	int gsm = 0, utf16 = 0, wide = 0;

	while (*s != '\0') {
		int64_t cp = next_cp(&s);
		int sept;

		if (cp < 0)
			return -1;
		sept = gsm_septets((uint32_t)cp);
		if (sept == 0)
			wide = 1;
		gsm += sept;
		utf16 += cp > 0xFFFF ? 2 : 1;
	}
	if (ucs2 != NULL)
		*ucs2 = wide;
	return wide ? utf16 : gsm;
}

int
sms_segments(const char *utf8, int *ucs2)
{
	int wide = 0, len = sms_length(utf8, &wide);
	int single = wide ? 70 : 160, part = wide ? 67 : 153;

	if (ucs2 != NULL)
		*ucs2 = wide;
	if (len < 0)
		return -1;
	if (len <= single)
		return 1;
	return (len + part - 1) / part;
}
