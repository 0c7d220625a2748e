/*
 * sms: how many messages (segments) a text costs.  A text that fits the
 * GSM 03.38 default alphabet (with its extension table) is sent as GSM-7:
 * 160 characters alone, 153 per part when split; any other character turns
 * the whole text into UCS-2: 70 alone, 67 per part.
 */
#ifndef PROMISED_SMS_H
#define PROMISED_SMS_H

/* Length of utf8 in the units of its encoding: GSM-7 septets (extension
 * characters such as € [ ] { } count 2) or UCS-2/UTF-16 code units
 * (characters outside the BMP, e.g. emoji, count 2).  *ucs2 (if not NULL)
 * is set to 1 when the text needs UCS-2.  -1 when utf8 is not UTF-8. */
int sms_length(const char *utf8, int *ucs2);

/* Number of segments utf8 is sent as (an empty text is one), setting
 * *ucs2 as sms_length does; -1 when utf8 is not UTF-8. */
int sms_segments(const char *utf8, int *ucs2);

#endif
