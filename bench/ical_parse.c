/*
 * ical_parse: the reference of the ingest benchmark.  Reads a calendar
 * file and parses it whole with libical's icalparser_parse_string, as a
 * program that does not stream would; prints the parse time and the
 * number of components, so bench/run can set promised's first sync of the
 * same bytes against it (time, and peak RSS taken from wait4 by the
 * caller).
 *
 *   ical_parse FILE.ics      prints "parse_ms N" and "components N"
 */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_clock.h"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	if (f != NULL)
		(void)fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	icalcomponent *cal, *c;
	size_t n = 0;
	double t0, t1;
	char *text;

	if (argc != 2) {
		fprintf(stderr, "usage: ical_parse FILE.ics\n");
		return 2;
	}
	text = slurp(argv[1]);
	if (text == NULL) {
		perror(argv[1]);
		return 1;
	}
	t0 = (bench_mono_seconds() * 1e3);
	cal = icalparser_parse_string(text);
	t1 = (bench_mono_seconds() * 1e3);
	if (cal == NULL) {
		fprintf(stderr, "ical_parse: libical could not parse %s\n",
			argv[1]);
		return 1;
	}
	for (c = icalcomponent_get_first_component(cal, ICAL_ANY_COMPONENT);
	     c != NULL;
	     c = icalcomponent_get_next_component(cal, ICAL_ANY_COMPONENT))
		n++;
	printf("parse_ms %.1f\ncomponents %zu\n", t1 - t0, n);
	icalcomponent_free(cal);
	free(text);
	return 0;
}
