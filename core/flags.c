/* SPDX-License-Identifier: Apache-2.0 */
/* core/flags.c - value parsers shared by the commands and the config file. */
#include "core/flags.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

bool flag_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!text || !*text)
		return false;
	for (const char *p = text; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool flag_parse_duration(const char *text, uint64_t *seconds_out)
{
	uint64_t total = 0;
	const char *p = text;

	if (!text || !*text)
		return false;
	while (*p) {
		uint64_t v = 0, unit;
		const char *start = p;

		while (isdigit((unsigned char)*p)) {
			if (v > UINT64_MAX / 10 - 9)
				return false;
			v = v * 10 + (uint64_t)(*p++ - '0');
		}
		if (p == start)
			return false;
		switch (*p) {
		case '\0':
			/* A bare number is seconds, but only on its own. */
			if (start != text)
				return false;
			unit = 1;
			break;
		case 's': unit = 1; p++; break;
		case 'm': unit = 60; p++; break;
		case 'h': unit = 3600; p++; break;
		case 'd': unit = 86400; p++; break;
		case 'w': unit = 7 * 86400; p++; break;
		default:
			return false;
		}
		if (v > (UINT64_MAX - total) / unit)
			return false;
		total += v * unit;
	}
	*seconds_out = total;
	return true;
}

bool flag_parse_size(const char *text, uint64_t *bytes_out)
{
	uint64_t v = 0, unit = 1;
	const char *p = text;

	if (!text || !isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p)) {
		if (v > UINT64_MAX / 10 - 9)
			return false;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	switch (toupper((unsigned char)*p)) {
	case '\0': break;
	case 'K': unit = 1ull << 10; p++; break;
	case 'M': unit = 1ull << 20; p++; break;
	case 'G': unit = 1ull << 30; p++; break;
	case 'T': unit = 1ull << 40; p++; break;
	default: return false;
	}
	if (*p == 'i' || *p == 'B')
		p++;
	if (*p == 'B')
		p++;
	if (*p || v > UINT64_MAX / unit)
		return false;
	*bytes_out = v * unit;
	return true;
}

static bool take_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

bool flag_parse_rfc3339(const char *text, int64_t *unix_out)
{
	const char *p = text;
	struct tm tm = { 0 };
	int year, mon, day, hour, min, sec, off = 0;

	if (!text || !take_digits(&p, 4, &year) || *p++ != '-' ||
	    !take_digits(&p, 2, &mon) || *p++ != '-' || !take_digits(&p, 2, &day))
		return false;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &min) ||
	    *p++ != ':' || !take_digits(&p, 2, &sec))
		return false;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if (!take_digits(&p, 2, &oh) || *p++ != ':' || !take_digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return false;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return false;
	}
	if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	*unix_out = (int64_t)timegm(&tm) - off;
	return true;
}
